#!/usr/bin/env python3
"""Static checks of deploy/ and helpers for the Rego tests (scripts/test-deploy).

    deploy_check.py check DEPLOY_DIR
        Every YAML file under DEPLOY_DIR parses, and the manifests hold
        together: webhook settings, Deployment hardening, the paths of the
        server's config against the Deployment's mounts, the example policies
        against the mounted trust stores, the Gatekeeper objects; the node
        agent (deploy/node): the DaemonSet's hardening and host mounts, its
        node.yaml against NodeConfig, the verifier's JSON and containerd's
        plugin table (timeouts in order).
    deploy_check.py prepare DEPLOY_DIR OPA_CAPABILITIES OUT_DIR
        Writes OUT_DIR/template.rego (the Rego of the ConstraintTemplate) and
        OUT_DIR/capabilities.json (OPA's capabilities plus Gatekeeper's
        external_data builtin, so the template compiles as Gatekeeper
        compiles it).
    deploy_check.py coverage COVERAGE_JSON TEMPLATE_REGO
        Fails unless `opa test --coverage` covered every line of the template.

Uses only the standard library and PyYAML (on the machine image as
python3-yaml and in the image's Python).
"""

import base64
import json
import os
import re
import sys

import yaml

FAILURES = []
PASSED = [0]


def check(cond, what):
    if cond:
        PASSED[0] += 1
    else:
        FAILURES.append(what)
    return cond


def load_all(deploy):
    """{relative path: [documents]} for every YAML file; parse errors fail."""
    docs = {}
    for root, dirs, files in os.walk(deploy):
        dirs.sort()
        for name in sorted(files):
            if not name.endswith((".yaml", ".yml")):
                continue
            path = os.path.join(root, name)
            rel = os.path.relpath(path, deploy)
            try:
                with open(path, encoding="utf-8") as f:
                    docs[rel] = [d for d in yaml.safe_load_all(f) if d is not None]
                check(True, "")
            except yaml.YAMLError as e:
                check(False, f"{rel}: does not parse: {e}")
    return docs


def objects(docs):
    """Kubernetes objects of the manifests (test fixtures excluded)."""
    out = []
    for rel, ds in docs.items():
        if rel.startswith("test" + os.sep):
            continue
        for d in ds:
            ok = isinstance(d, dict) and d.get("apiVersion") and d.get("kind") and (d.get("metadata") or {}).get("name")
            if check(ok, f"{rel}: a document without apiVersion, kind and metadata.name"):
                out.append((rel, d))
    return out


def find(objs, kind, name=None):
    return [d for _, d in objs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]


def one(objs, kind, name=None):
    found = find(objs, kind, name)
    check(len(found) == 1, f"expected exactly one {kind} {name or ''}, found {len(found)}")
    return found[0] if found else {}


def get(d, *path, default=None):
    for p in path:
        if isinstance(d, dict) and p in d:
            d = d[p]
        elif isinstance(d, list) and isinstance(p, int) and p < len(d):
            d = d[p]
        else:
            return default
    return d


def duration_ms(s):
    m = re.fullmatch(r"(\d+)(ms|s|m|h)", str(s).strip())
    if not m:
        return None
    return int(m.group(1)) * {"ms": 1, "s": 1000, "m": 60000, "h": 3600000}[m.group(2)]


CONFIG_KEYS = {
    "listen", "tls", "policyDir", "trustDir", "revocationList", "exemptNamespaces", "noMatch",
    "deadline", "gatekeeperDeadline", "reloadInterval", "cache", "registry",
}
POLICY_SPEC_KEYS = {"images", "mode", "mutateToDigest", "failurePolicy", "verification", "exemptions"}
RULES = {
    ("", "v1"): {"pods", "pods/ephemeralcontainers", "replicationcontrollers"},
    ("apps", "v1"): {"deployments", "replicasets", "statefulsets", "daemonsets"},
    ("batch", "v1"): {"jobs", "cronjobs"},
}
EXEMPT = {"kube-system", "signet-system", "signet-node"}


def check_webhooks(objs, service, cert_names):
    svc_ns = service["metadata"].get("namespace")
    svc_name = service["metadata"]["name"]
    for kind, path in (("MutatingWebhookConfiguration", "/mutate"), ("ValidatingWebhookConfiguration", "/validate")):
        cfg = one(objs, kind)
        if not cfg:
            continue
        ann = get(cfg, "metadata", "annotations", "cert-manager.io/inject-ca-from", default="")
        check(ann in cert_names, f"{kind}: cert-manager.io/inject-ca-from {ann!r} names no Certificate in deploy/")
        hooks = cfg.get("webhooks") or []
        check(len(hooks) >= 1, f"{kind}: no webhooks")
        for h in hooks:
            n = h.get("name", "?")
            w = f"{kind} {n}"
            check(len(n.split(".")) >= 3, f"{w}: the name must be fully qualified (three or more segments)")
            check(h.get("failurePolicy") == "Fail", f"{w}: failurePolicy must be Fail")
            check(h.get("sideEffects") == "None", f"{w}: sideEffects must be None")
            check(h.get("admissionReviewVersions") == ["v1"], f"{w}: admissionReviewVersions must be [v1]")
            check(h.get("matchPolicy") == "Equivalent", f"{w}: matchPolicy must be Equivalent")
            check(h.get("timeoutSeconds") == 10, f"{w}: timeoutSeconds must be 10")
            if kind.startswith("Mutating"):
                check(h.get("reinvocationPolicy") == "IfNeeded", f"{w}: reinvocationPolicy must be IfNeeded")
            exprs = get(h, "namespaceSelector", "matchExpressions", default=[]) or []
            exempted = set()
            for e in exprs:
                if e.get("key") == "kubernetes.io/metadata.name" and e.get("operator") == "NotIn":
                    exempted |= set(e.get("values") or [])
            check(EXEMPT <= exempted,
                  f"{w}: namespaceSelector must exempt {sorted(EXEMPT)} with kubernetes.io/metadata.name NotIn")
            s = get(h, "clientConfig", "service", default={})
            check(s.get("name") == svc_name and s.get("namespace") == svc_ns and s.get("port", 443) == 443,
                  f"{w}: clientConfig.service must be {svc_ns}/{svc_name}:443")
            check(s.get("path") == path, f"{w}: path must be {path}")
            check("caBundle" in (h.get("clientConfig") or {}), f"{w}: caBundle placeholder missing")
            covered = {}
            for r in h.get("rules") or []:
                ops = set(r.get("operations") or [])
                check({"CREATE", "UPDATE"} <= ops, f"{w}: a rule lacks CREATE or UPDATE")
                for g in r.get("apiGroups") or []:
                    for v in r.get("apiVersions") or []:
                        covered.setdefault((g, v), set()).update(r.get("resources") or [])
            for gv, res in RULES.items():
                missing = res - covered.get(gv, set())
                check(not missing, f"{w}: rules miss {sorted(missing)} in {gv[0] or 'core'}/{gv[1]}")


def check_deployment(objs):
    dep = one(objs, "Deployment", "signet-admission")
    if not dep:
        return None, {}
    spec = dep["spec"]
    pod = get(spec, "template", "spec", default={})
    w = "Deployment signet-admission"
    check(spec.get("replicas") == 2, f"{w}: replicas must be 2")
    labels = get(spec, "template", "metadata", "labels", default={})
    check(all(labels.get(k) == v for k, v in get(spec, "selector", "matchLabels", default={}).items()),
          f"{w}: selector does not match the pod labels")
    psc = pod.get("securityContext") or {}
    check(psc.get("runAsNonRoot") is True, f"{w}: pod runAsNonRoot must be true")
    check(psc.get("runAsUser") == 65532, f"{w}: pod runAsUser must be 65532")
    check(get(psc, "seccompProfile", "type") == "RuntimeDefault", f"{w}: pod seccompProfile must be RuntimeDefault")
    spread = [t.get("topologyKey") for t in pod.get("topologySpreadConstraints") or []]
    anti = get(pod, "affinity", "podAntiAffinity")
    check("kubernetes.io/hostname" in spread or anti, f"{w}: replicas are not spread across nodes")
    containers = pod.get("containers") or []
    check(len(containers) == 1, f"{w}: expected one container")
    c = containers[0] if containers else {}
    check(c.get("image") == "ghcr.io/signet-dev/signet:0.1.0", f"{w}: image must be ghcr.io/signet-dev/signet:0.1.0")
    check(c.get("args") == ["serve", "admission", "--config", "/etc/signet/admission.yaml"],
          f"{w}: args must be serve admission --config /etc/signet/admission.yaml")
    ports = {p.get("name"): p.get("containerPort") for p in c.get("ports") or []}
    check(ports.get("https") == 8443, f"{w}: container port https must be 8443")
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        g = get(c, probe, "httpGet", default={})
        check(g.get("path") == path and g.get("scheme") == "HTTPS" and g.get("port") in ("https", 8443),
              f"{w}: {probe} must be GET {path} over HTTPS on 8443")
    res = c.get("resources") or {}
    check(get(res, "requests", "cpu") and get(res, "requests", "memory") and get(res, "limits", "memory"),
          f"{w}: resources need cpu/memory requests and a memory limit")
    sc = c.get("securityContext") or {}
    check(sc.get("readOnlyRootFilesystem") is True, f"{w}: readOnlyRootFilesystem must be true")
    check(sc.get("allowPrivilegeEscalation") is False, f"{w}: allowPrivilegeEscalation must be false")
    check(get(sc, "capabilities", "drop") == ["ALL"], f"{w}: capabilities must drop ALL")
    check(sc.get("runAsNonRoot", psc.get("runAsNonRoot")) is True and sc.get("runAsUser", 65532) == 65532,
          f"{w}: the container must run as 65532, non-root")

    volumes = {v["name"]: v for v in pod.get("volumes") or []}
    mounts = {}
    for m in c.get("volumeMounts") or []:
        check(m.get("name") in volumes, f"{w}: volumeMount {m.get('mountPath')} has no volume {m.get('name')}")
        check(m.get("readOnly") is True, f"{w}: volumeMount {m.get('mountPath')} must be readOnly")
        mounts[m["mountPath"]] = volumes.get(m.get("name"), {})
    for path, vol in mounts.items():
        if "emptyDir" in vol:
            check(path == "/tmp", f"{w}: a writable emptyDir is only for /tmp, not {path}")

    # Every object a non-optional volume needs is in deploy/ (or is the
    # Secret a Certificate writes).
    cms = {d["metadata"]["name"] for d in find(objs, "ConfigMap")}
    secrets = {d["metadata"]["name"] for d in find(objs, "Secret")}
    secrets |= {get(d, "spec", "secretName") for d in find(objs, "Certificate")}
    for n, v in volumes.items():
        if "configMap" in v and not v["configMap"].get("optional"):
            check(v["configMap"]["name"] in cms, f"{w}: volume {n} needs ConfigMap {v['configMap']['name']}")
        if "secret" in v and not v["secret"].get("optional"):
            check(v["secret"]["secretName"] in secrets, f"{w}: volume {n} needs Secret {v['secret']['secretName']}")
    return dep, mounts


def mounted_file(mounts, path, cms):
    """Whether the file or directory `path` is provided by one of the mounts."""
    best = max((p for p in mounts if path == p or path.startswith(p.rstrip("/") + "/")), key=len, default=None)
    if best is None:
        return False
    vol = mounts[best]
    rel = os.path.relpath(path, best)
    if rel == ".":
        return True
    cm = vol.get("configMap")
    if cm and not cm.get("items") and cm["name"] in cms:
        return rel in (cms[cm["name"]].get("data") or {})
    src = cm or vol.get("secret") or {}
    items = src.get("items")
    if items:
        return any(i.get("path") == rel or i.get("path", "").startswith(rel + "/") for i in items)
    return True


def check_config(objs, mounts, webhook_timeout, provider_timeout):
    cms = {d["metadata"]["name"]: d for d in find(objs, "ConfigMap")}
    cm = cms.get("signet-admission-config", {})
    text = get(cm, "data", "admission.yaml")
    if not check(isinstance(text, str), "ConfigMap signet-admission-config has no admission.yaml"):
        return None
    try:
        cfg = yaml.safe_load(text)
    except yaml.YAMLError as e:
        check(False, f"admission.yaml does not parse: {e}")
        return None
    w = "admission.yaml"
    unknown = set(cfg) - CONFIG_KEYS
    check(not unknown, f"{w}: unknown keys {sorted(unknown)}")
    check(cfg.get("listen", "").endswith(":8443"), f"{w}: listen must be on port 8443")
    check(set(cfg.get("exemptNamespaces") or []) >= EXEMPT, f"{w}: exemptNamespaces must hold {sorted(EXEMPT)}")
    check(cfg.get("noMatch") in ("deny", "allow"), f"{w}: noMatch must be deny or allow")
    dl = duration_ms(cfg.get("deadline", "8s"))
    check(dl is not None and dl <= (webhook_timeout - 1) * 1000,
          f"{w}: deadline must be at most the webhooks' timeoutSeconds less 1s")
    gdl = duration_ms(cfg.get("gatekeeperDeadline", "2500ms"))
    check(gdl is not None and gdl < provider_timeout * 1000,
          f"{w}: gatekeeperDeadline must be below the Providers' timeout")
    for key in ("ttl", "tagTtl"):
        if key in (cfg.get("cache") or {}):
            check(duration_ms(cfg["cache"][key]) is not None, f"{w}: cache.{key} is not a duration")
    check(duration_ms(get(cfg, "registry", "timeout", default="5s")) is not None, f"{w}: registry.timeout is not a duration")
    files = [get(cfg, "tls", "certFile"), get(cfg, "tls", "keyFile"), get(cfg, "tls", "clientCAFile"),
             cfg.get("revocationList")]
    dirs = [cfg.get("policyDir"), cfg.get("trustDir"), get(cfg, "registry", "dockerConfig")]
    for p in [x for x in files + dirs if x]:
        check(os.path.isabs(p) and mounted_file(mounts, p, cms), f"{w}: {p} is not provided by a volume of the Deployment")
    return cfg


def check_policies(objs, mounts, cfg):
    cms = {d["metadata"]["name"]: d for d in find(objs, "ConfigMap")}
    cm = cms.get("signet-policies")
    if not check(cm is not None, "ConfigMap signet-policies is missing"):
        return
    trust_dir = (cfg or {}).get("trustDir", "/etc/signet/trust")
    ids = set()
    for key, text in sorted((cm.get("data") or {}).items()):
        w = f"policy file {key}"
        check(key.endswith((".yaml", ".yml", ".json")), f"{w}: the server reads only .yaml, .yml and .json files")
        try:
            docs = [d for d in yaml.safe_load_all(text) if d is not None]
        except yaml.YAMLError as e:
            check(False, f"{w}: does not parse: {e}")
            continue
        for d in docs:
            kind = d.get("kind")
            name = get(d, "metadata", "name")
            ns = get(d, "metadata", "namespace")
            pid = f"{kind}/{ns + '/' if ns else ''}{name}"
            check(d.get("apiVersion") == "signet.dev/v1alpha1", f"{w}: {pid}: apiVersion must be signet.dev/v1alpha1")
            check(kind in ("ClusterImagePolicy", "ImagePolicy"), f"{w}: {pid}: kind must be ClusterImagePolicy or ImagePolicy")
            check((kind == "ImagePolicy") == bool(ns), f"{w}: {pid}: an ImagePolicy, and only it, has a namespace")
            check(pid not in ids, f"{w}: {pid} is defined twice")
            ids.add(pid)
            spec = d.get("spec") or {}
            unknown = set(spec) - POLICY_SPEC_KEYS
            check(not unknown, f"{w}: {pid}: unknown spec keys {sorted(unknown)}")
            check(bool(spec.get("images")), f"{w}: {pid}: spec.images is empty")
            check(spec.get("mode", "enforce") in ("enforce", "warn", "audit"), f"{w}: {pid}: bad mode")
            check(spec.get("failurePolicy", "Fail") in ("Fail", "Ignore"), f"{w}: {pid}: bad failurePolicy")
            v = spec.get("verification") or {}
            check(isinstance(v, dict) and "name" not in v and "registryScopes" not in v,
                  f"{w}: {pid}: spec.verification is a trust policy statement without name/registryScopes")
            check(get(v, "signatureVerification", "level") in ("strict", "permissive", "audit", "skip"),
                  f"{w}: {pid}: bad signatureVerification.level")
            for store in v.get("trustStores") or []:
                typ, _, sname = str(store).partition(":")
                ok = typ in ("ca", "signingAuthority", "tsa") and sname
                path = f"{trust_dir}/truststore/x509/{typ}/{sname}"
                check(ok and mounted_file(mounts, path, cms),
                      f"{w}: {pid}: trust store {store} is not mounted at {path}")
            for ident in v.get("trustedIdentities") or []:
                if ident == "*":
                    continue
                m = re.fullmatch(r"x509\.subject:\s*(.+)", ident)
                attrs = {a.split("=", 1)[0].strip() for a in m.group(1).split(",")} if m else set()
                check(m and {"C", "O"} <= attrs and ({"ST", "S"} & attrs),
                      f"{w}: {pid}: trusted identity {ident!r} needs x509.subject with C, ST and O")


def check_certificate(objs, service):
    certs = find(objs, "Certificate")
    names = {f"{c['metadata'].get('namespace')}/{c['metadata']['name']}" for c in certs}
    tls = [c for c in certs if not get(c, "spec", "isCA")]
    check(len(tls) == 1, "expected one serving Certificate")
    dns = set(get(tls[0], "spec", "dnsNames", default=[]) if tls else [])
    svc = f"{service['metadata']['name']}.{service['metadata'].get('namespace')}"
    for n in (svc, svc + ".svc"):
        check(n in dns, f"Certificate: dnsNames must include {n}")
    if tls:
        issuer = get(tls[0], "spec", "issuerRef", "name")
        check(bool(find(objs, "Issuer", issuer) or find(objs, "ClusterIssuer", issuer)),
              f"Certificate: issuer {issuer} is not in deploy/")
    return names, dns


def check_gatekeeper(objs, dns):
    providers = {d["metadata"]["name"]: d for d in find(objs, "Provider")}
    timeouts = []
    for name, path in (("signet-verify", "/gatekeeper/verify"), ("signet-mutate", "/gatekeeper/mutate")):
        p = providers.get(name)
        if not check(p is not None, f"Provider {name} is missing"):
            continue
        check(p.get("apiVersion") == "externaldata.gatekeeper.sh/v1beta1", f"Provider {name}: apiVersion")
        url = get(p, "spec", "url", default="")
        m = re.fullmatch(r"https://([^/:]+)(?::(\d+))?(/.*)", url)
        check(m and m.group(3) == path and m.group(2) in (None, "443"), f"Provider {name}: url must be https://…:443{path}")
        if m:
            check(m.group(1) in dns, f"Provider {name}: host {m.group(1)} is not in the serving certificate's dnsNames")
        t = get(p, "spec", "timeout")
        check(t == 3, f"Provider {name}: timeout must be 3")
        timeouts.append(t or 0)
        ca = str(get(p, "spec", "caBundle", default=""))
        if ca != "SIGNET_CA_BUNDLE":
            try:
                ok = b"-----BEGIN CERTIFICATE-----" in base64.b64decode(ca, validate=True)
            except ValueError:
                ok = False
            check(ok, f"Provider {name}: caBundle must be the SIGNET_CA_BUNDLE placeholder or a base64 PEM")

    tmpl = one(objs, "ConstraintTemplate", "signetverification")
    rego = get(tmpl, "spec", "targets", 0, "rego", default="")
    check(get(tmpl, "spec", "crd", "spec", "names", "kind") == "SignetVerification",
          "ConstraintTemplate: kind must be SignetVerification")
    check('"provider": "signet-verify"' in rego, "ConstraintTemplate: the Rego must call the signet-verify provider")
    check(get(tmpl, "spec", "crd", "spec", "validation", "openAPIV3Schema", "properties", "namespaced", "type") == "boolean",
          "ConstraintTemplate: parameter namespaced must be a boolean")

    con = one(objs, "SignetVerification")
    kinds = {}
    for k in get(con, "spec", "match", "kinds", default=[]) or []:
        for g in k.get("apiGroups") or []:
            kinds.setdefault(g, set()).update(k.get("kinds") or [])
    want = {"": {"Pod", "ReplicationController"}, "apps": {"Deployment", "ReplicaSet", "StatefulSet", "DaemonSet"},
            "batch": {"Job", "CronJob"}}
    for g, ks in want.items():
        check(ks <= kinds.get(g, set()), f"Constraint: match.kinds misses {sorted(ks - kinds.get(g, set()))} in group {g!r}")
    excl = set(get(con, "spec", "match", "excludedNamespaces", default=[]) or [])
    check({"kube-system", "gatekeeper-system", "signet-system"} <= excl,
          "Constraint: excludedNamespaces must hold kube-system, gatekeeper-system, signet-system")
    params = get(con, "spec", "parameters", default={}) or {}
    check(isinstance(params.get("namespaced", False), bool), "Constraint: parameters.namespaced must be a boolean")

    locations = set()
    for a in find(objs, "Assign"):
        n = a["metadata"]["name"]
        check(a.get("apiVersion") == "mutations.gatekeeper.sh/v1", f"Assign {n}: apiVersion must be mutations.gatekeeper.sh/v1")
        ed = get(a, "spec", "parameters", "assign", "externalData", default={})
        check(ed.get("provider") == "signet-mutate" and ed.get("dataSource") == "ValueAtLocation"
              and ed.get("failurePolicy") == "Fail",
              f"Assign {n}: externalData must be signet-mutate, ValueAtLocation, failurePolicy Fail")
        excl = set(get(a, "spec", "match", "excludedNamespaces", default=[]) or [])
        check({"kube-system", "gatekeeper-system", "signet-system"} <= excl,
              f"Assign {n}: excludedNamespaces must hold kube-system, gatekeeper-system, signet-system")
        locations.add(get(a, "spec", "location"))
    for loc in ("spec.containers[name:*].image", "spec.initContainers[name:*].image"):
        check(loc in locations, f"Assign: no mutation of {loc}")
    return max(timeouts, default=3)


# deploy/node: the node agent (DaemonSet), its node.yaml, and the host side
# (the verifier's JSON configuration and containerd's plugin table).

# NodeConfig and BundleSource in crates/node/src/agent.rs (both
# deny_unknown_fields, camelCase), and the admission CacheConfig and
# RegistryConfig they embed (crates/admission/src/config.rs).
NODE_KEYS = {"socket", "stateDir", "bundle", "noMatch", "decisionDeadline", "cache", "registry", "metricsListen"}
NODE_REQUIRED = {"socket", "stateDir", "bundle"}
BUNDLE_KEYS = {"source", "trustRoot", "identities", "pollInterval", "maxAge"}
BUNDLE_REQUIRED = {"source", "trustRoot", "identities"}
CACHE_KEYS = {"size", "ttl", "tagTtl"}
REGISTRY_KEYS = {"concurrency", "timeout", "insecure", "caFiles", "dockerConfig"}
# The Config of crates/cli/src/bin/signet-containerd-verifier.rs.
VERIFIER_KEYS = {"socket", "timeoutMs", "mode", "direct"}
VERIFIER_PLUGIN = "io.containerd.image-verifier.v1.bindir"
VERIFIER_BIN_DIR = "/opt/containerd/image-verifier/bin"
# The only host directories the agent's pod may mount: the socket's and the
# state directory.
NODE_HOST_PATHS = {"/run/signet", "/var/lib/signet/node"}


def go_duration_ms(s):
    """A Go duration ("5s", "1m30s", "1500ms") in milliseconds, else None."""
    text = str(s).strip()
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    return sum(float(n) * {"ms": 1, "s": 1000, "m": 60000, "h": 3600000}[u] for n, u in parts)


def node_mount(mounts, path):
    """(mountPath, volume) of the mount providing `path`, else (None, {})."""
    best = max((p for p in mounts if path == p or path.startswith(p.rstrip("/") + "/")), key=len, default=None)
    return (best, mounts[best]) if best else (None, {})


def check_node_daemonset(objs):
    ds = one(objs, "DaemonSet", "signet-node")
    if not ds:
        return None, {}, {}
    w = "DaemonSet signet-node"
    spec = ds["spec"]
    pod = get(spec, "template", "spec", default={})
    labels = get(spec, "template", "metadata", "labels", default={})
    check(all(labels.get(k) == v for k, v in get(spec, "selector", "matchLabels", default={}).items()),
          f"{w}: selector does not match the pod labels")
    ru = get(spec, "updateStrategy", "rollingUpdate", default={}) or {}
    check(ru.get("maxSurge", 0) in (0, "0", "0%"),
          f"{w}: maxSurge must be 0 (two agents on a node would share the socket path)")
    check(get(pod, "nodeSelector", "kubernetes.io/os") == "linux", f"{w}: nodeSelector kubernetes.io/os must be linux")
    check(any(t.get("operator") == "Exists" and not t.get("key") and not t.get("effect")
              for t in pod.get("tolerations") or []),
          f"{w}: must tolerate every taint (operator Exists, no key, no effect)")
    check(pod.get("priorityClassName") == "system-node-critical", f"{w}: priorityClassName must be system-node-critical")
    for k in ("hostNetwork", "hostPID", "hostIPC"):
        check(not pod.get(k), f"{w}: {k} must not be set")
    check(pod.get("automountServiceAccountToken") is False,
          f"{w}: no service account token (automountServiceAccountToken: false)")
    check(not pod.get("initContainers"),
          f"{w}: no init containers (the verifier is installed with the node image, deploy/README.md)")
    psc = pod.get("securityContext") or {}
    check(get(psc, "seccompProfile", "type") == "RuntimeDefault", f"{w}: pod seccompProfile must be RuntimeDefault")
    containers = pod.get("containers") or []
    check(len(containers) == 1, f"{w}: expected one container")
    c = containers[0] if containers else {}
    check(c.get("image") == "ghcr.io/signet-dev/signet:0.1.0", f"{w}: image must be ghcr.io/signet-dev/signet:0.1.0")
    check(c.get("args") == ["serve", "node", "--config", "/etc/signet/node.yaml"],
          f"{w}: args must be serve node --config /etc/signet/node.yaml")
    sc = c.get("securityContext") or {}
    check(sc.get("runAsUser", psc.get("runAsUser")) == 0,
          f"{w}: must run as UID 0 (the socket is root's, 0600, for containerd)")
    check(sc.get("readOnlyRootFilesystem") is True, f"{w}: readOnlyRootFilesystem must be true")
    check(sc.get("allowPrivilegeEscalation") is False, f"{w}: allowPrivilegeEscalation must be false")
    check(not sc.get("privileged"), f"{w}: must not be privileged")
    check(get(sc, "capabilities", "drop") == ["ALL"] and not get(sc, "capabilities", "add"),
          f"{w}: capabilities must drop ALL and add none")
    check(get(sc, "seccompProfile", "type", default=get(psc, "seccompProfile", "type")) == "RuntimeDefault",
          f"{w}: container seccompProfile must be RuntimeDefault")
    res = c.get("resources") or {}
    check(get(res, "requests", "cpu") and get(res, "requests", "memory") and get(res, "limits", "memory"),
          f"{w}: resources need cpu/memory requests and a memory limit")
    ports = {p.get("name"): p.get("containerPort") for p in c.get("ports") or []}
    live = get(c, "livenessProbe", "tcpSocket", "port")
    check(live is not None and live in ("metrics", ports.get("metrics")),
          f"{w}: livenessProbe must be a tcpSocket probe of the metrics port")

    volumes = {v["name"]: v for v in pod.get("volumes") or []}
    mounts = {}
    for m in c.get("volumeMounts") or []:
        v = volumes.get(m.get("name"))
        check(v is not None, f"{w}: volumeMount {m.get('mountPath')} has no volume {m.get('name')}")
        v = v or {}
        mounts[m["mountPath"]] = v
        if "hostPath" in v:
            check(m["mountPath"] == v["hostPath"].get("path") and not m.get("subPath"),
                  f"{w}: hostPath {v['hostPath'].get('path')} must be mounted whole at the same path"
                  " (containerd's verifier uses the host's paths)")
        else:
            check(m.get("readOnly") is True, f"{w}: volumeMount {m.get('mountPath')} must be readOnly")
    host = {v["hostPath"].get("path"): v["hostPath"] for v in volumes.values() if "hostPath" in v}
    check(set(host) == NODE_HOST_PATHS,
          f"{w}: hostPath volumes must be exactly {sorted(NODE_HOST_PATHS)}, not {sorted(host)}")
    for path, hp in host.items():
        check(hp.get("type") == "DirectoryOrCreate", f"{w}: hostPath {path} must be type DirectoryOrCreate")
    # The configuration is in deploy/; the bundle signer's root is created by
    # the operator (deploy/README.md).
    for n, v in volumes.items():
        cm = v.get("configMap")
        if cm and not cm.get("optional") and cm["name"] != "signet-bundle-root":
            check(bool(find(objs, "ConfigMap", cm["name"])), f"{w}: volume {n} needs ConfigMap {cm['name']}")
    return ds, mounts, ports


def check_node_config(objs, mounts, ports):
    cm = one(objs, "ConfigMap", "signet-node-config")
    text = get(cm, "data", "node.yaml")
    if not check(isinstance(text, str), "ConfigMap signet-node-config has no node.yaml"):
        return None
    try:
        cfg = yaml.safe_load(text)
    except yaml.YAMLError as e:
        check(False, f"node.yaml does not parse: {e}")
        return None
    w = "node.yaml"
    if not check(isinstance(cfg, dict), f"{w}: not a mapping"):
        return None
    check(not set(cfg) - NODE_KEYS,
          f"{w}: unknown keys {sorted(set(cfg) - NODE_KEYS)} (NodeConfig has {sorted(NODE_KEYS)})")
    check(NODE_REQUIRED <= set(cfg), f"{w}: missing {sorted(NODE_REQUIRED - set(cfg))}")
    b = cfg.get("bundle") if isinstance(cfg.get("bundle"), dict) else {}
    check(not set(b) - BUNDLE_KEYS,
          f"{w}: unknown bundle keys {sorted(set(b) - BUNDLE_KEYS)} (BundleSource has {sorted(BUNDLE_KEYS)})")
    check(BUNDLE_REQUIRED <= set(b), f"{w}: bundle is missing {sorted(BUNDLE_REQUIRED - set(b))}")
    cache = cfg.get("cache") or {}
    check(not set(cache) - CACHE_KEYS, f"{w}: unknown cache keys {sorted(set(cache) - CACHE_KEYS)}")
    reg = cfg.get("registry") or {}
    check(not set(reg) - REGISTRY_KEYS, f"{w}: unknown registry keys {sorted(set(reg) - REGISTRY_KEYS)}")
    check(cfg.get("noMatch", "deny") in ("deny", "allow"), f"{w}: noMatch must be deny or allow")
    for where, val in (("bundle.pollInterval", b.get("pollInterval", "30s")), ("bundle.maxAge", b.get("maxAge", "24h")),
                       ("decisionDeadline", cfg.get("decisionDeadline", "2s")), ("cache.ttl", cache.get("ttl", "2m")),
                       ("cache.tagTtl", cache.get("tagTtl", "30s")), ("registry.timeout", reg.get("timeout", "5s"))):
        check(duration_ms(val) is not None, f"{w}: {where} {val!r} is not a duration (ms, s, m or h)")
    poll, age = duration_ms(b.get("pollInterval", "30s")), duration_ms(b.get("maxAge"))
    if poll and age:
        check(poll < age, f"{w}: bundle.pollInterval must be shorter than bundle.maxAge")
    check(re.match(r"(oci|https|file)://.", str(b.get("source", ""))) is not None,
          f"{w}: bundle.source must be oci://, https:// or file://")
    ids = b.get("identities")
    check(isinstance(ids, list) and ids, f"{w}: bundle.identities must be a non-empty list")
    for ident in ids if isinstance(ids, list) else []:
        m = re.fullmatch(r"x509\.subject:\s*(.+)", str(ident))
        attrs = {a.split("=", 1)[0].strip() for a in m.group(1).split(",")} if m else set()
        check(m and {"C", "O"} <= attrs and ({"ST", "S"} & attrs),
              f"{w}: bundle identity {ident!r} needs x509.subject with C, ST and O")

    # The socket and the state live in the host's directories, the rest in
    # read-only volumes.
    cms = {d["metadata"]["name"]: d for d in find(objs, "ConfigMap")}
    sock = str(cfg.get("socket", ""))
    mp, vol = node_mount(mounts, os.path.dirname(sock))
    check(os.path.isabs(sock) and "hostPath" in vol and os.path.dirname(sock) == mp,
          f"{w}: socket {sock} must be directly in a hostPath mount, where containerd's verifier finds it")
    state = str(cfg.get("stateDir", ""))
    mp, vol = node_mount(mounts, state)
    check(os.path.isabs(state) and "hostPath" in vol,
          f"{w}: stateDir {state} must be on a hostPath mount (the bundle in force survives restarts)")
    for p in [b.get("trustRoot"), reg.get("dockerConfig")] + list(reg.get("caFiles") or []):
        if p:
            check(os.path.isabs(p) and mounted_file(mounts, p, cms),
                  f"{w}: {p} is not provided by a volume of the DaemonSet")
    listen = str(cfg.get("metricsListen", ""))
    m = re.fullmatch(r"(.+):(\d+)", listen)
    check(m and m.group(1) not in ("127.0.0.1", "localhost", "[::1]"),
          f"{w}: metricsListen {listen!r} must listen on the pod's address (its loopback is out of the probe's reach)")
    if m:
        check(int(m.group(2)) == ports.get("metrics"),
              f"{w}: metricsListen port {m.group(2)} must be the DaemonSet's containerPort metrics")
    return cfg


def check_node_host(deploy, cfg):
    """containerd-verifier.json and containerd-config.toml, against node.yaml."""
    node = os.path.join(deploy, "node", "host")
    w = "node/host/containerd-verifier.json"
    vcfg = None
    try:
        with open(os.path.join(node, "containerd-verifier.json"), encoding="utf-8") as f:
            vcfg = json.load(f)
    except (OSError, ValueError) as e:
        check(False, f"{w}: {e}")
    if vcfg is not None and not check(isinstance(vcfg, dict), f"{w}: not a JSON object"):
        vcfg = None
    if vcfg is not None:
        check(not set(vcfg) - VERIFIER_KEYS, f"{w}: unknown keys {sorted(set(vcfg) - VERIFIER_KEYS)}")
        check(vcfg.get("mode", "enforce") in ("enforce", "warn", "audit"), f"{w}: mode must be enforce, warn or audit")
        check("direct" not in vcfg, f"{w}: direct would verify without the agent")
        check(cfg is None or vcfg.get("socket", "/run/signet/node.sock") == cfg.get("socket"),
              f"{w}: socket must be node.yaml's socket {(cfg or {}).get('socket')}")
    t = "node/host/containerd-config.toml"
    try:
        import tomllib  # Python 3.11 and later
    except ImportError:
        check(False, f"{t}: cannot be checked without tomllib (Python 3.11 or later)")
        return
    try:
        with open(os.path.join(node, "containerd-config.toml"), "rb") as f:
            toml = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as e:
        check(False, f"{t}: {e}")
        return
    check(toml.get("version") == 3, f"{t}: version must be 3 (containerd 2.x)")
    plugin = get(toml, "plugins", VERIFIER_PLUGIN)
    if not check(isinstance(plugin, dict), f"{t}: no [plugins.\"{VERIFIER_PLUGIN}\"] table"):
        return
    check(plugin.get("bin_dir") == VERIFIER_BIN_DIR, f"{t}: bin_dir must be {VERIFIER_BIN_DIR}")
    mv = plugin.get("max_verifiers")
    check(isinstance(mv, int) and not isinstance(mv, bool) and mv >= 1, f"{t}: max_verifiers must be a positive integer")
    per = go_duration_ms(plugin.get("per_verifier_timeout", ""))
    check(per is not None, f"{t}: per_verifier_timeout must be a duration string such as \"5s\"")
    if vcfg is not None and per is not None:
        tm = vcfg.get("timeoutMs", 3000)
        ok = isinstance(tm, int) and not isinstance(tm, bool)
        check(ok and 0 < tm < per, f"{w}: timeoutMs {tm!r} must be below containerd's per_verifier_timeout ({per:g} ms)")
        dl = duration_ms((cfg or {}).get("decisionDeadline", "2s"))
        if ok and dl is not None:
            check(dl < tm, f"node.yaml: decisionDeadline ({dl} ms) must be below the verifier's timeoutMs ({tm})")


def check_node(deploy, objs):
    _, mounts, ports = check_node_daemonset(objs)
    cfg = check_node_config(objs, mounts, ports)
    check_node_host(deploy, cfg)


def cmd_check(deploy):
    docs = load_all(deploy)
    objs = objects(docs)
    service = one(objs, "Service", "signet-admission")
    if service:
        ports = service["spec"].get("ports") or []
        check(any(p.get("port") == 443 and p.get("targetPort") in ("https", 8443) for p in ports),
              "Service: port 443 must target 8443 (https)")
    pdb = one(objs, "PodDisruptionBudget")
    check(get(pdb, "spec", "minAvailable") == 1, "PodDisruptionBudget: minAvailable must be 1")
    ns = one(objs, "Namespace", "signet-system")
    check(bool(ns), "Namespace signet-system")
    for _, d in objs:
        if d["kind"] not in ("Namespace", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration",
                             "Provider", "ConstraintTemplate", "SignetVerification", "Assign"):
            want = "signet-node" if d["metadata"]["name"].startswith("signet-node") or d["kind"] == "DaemonSet" else "signet-system"
            check(d["metadata"].get("namespace") == want,
                  f"{d['kind']} {d['metadata']['name']}: must be in namespace {want}")
    cert_names, dns = check_certificate(objs, service) if service else (set(), set())
    if service:
        check_webhooks(objs, service, cert_names)
    hooks = find(objs, "ValidatingWebhookConfiguration") + find(objs, "MutatingWebhookConfiguration")
    webhook_timeout = min((h.get("timeoutSeconds", 10) for c in hooks for h in c.get("webhooks") or []), default=10)
    provider_timeout = check_gatekeeper(objs, dns)
    _, mounts = check_deployment(objs)
    cfg = check_config(objs, mounts, webhook_timeout, provider_timeout)
    check_policies(objs, mounts, cfg)
    check_node(deploy, objs)

    for f in FAILURES:
        print(f"FAIL: {f}")
    print(f"deploy: {PASSED[0]} passed, {len(FAILURES)} failed")
    return 1 if FAILURES else 0


def cmd_prepare(deploy, caps_in, out):
    with open(os.path.join(deploy, "gatekeeper", "template.yaml"), encoding="utf-8") as f:
        tmpl = yaml.safe_load(f)
    targets = tmpl["spec"]["targets"]
    if len(targets) != 1 or not targets[0].get("rego"):
        print("template.yaml: expected one target with rego", file=sys.stderr)
        return 1
    with open(os.path.join(out, "template.rego"), "w", encoding="utf-8") as f:
        f.write(targets[0]["rego"])
    with open(caps_in, encoding="utf-8") as f:
        caps = json.load(f)
    # Declared as Gatekeeper's rego driver declares it: one argument of any
    # type, a result of any type.
    caps["builtins"].append({
        "name": "external_data",
        "decl": {"type": "function", "args": [{"type": "any"}], "result": {"type": "any"}},
    })
    with open(os.path.join(out, "capabilities.json"), "w", encoding="utf-8") as f:
        json.dump(caps, f)
    return 0


def cmd_coverage(report, template):
    with open(report, encoding="utf-8") as f:
        cov = json.load(f)
    files = cov.get("files") or {}
    entry = next((v for k, v in files.items() if os.path.abspath(k) == os.path.abspath(template)), None)
    if entry is None:
        print(f"coverage: no entry for {template}")
        return 1
    missed = entry.get("not_covered") or []
    with open(template, encoding="utf-8") as f:
        lines = f.read().split("\n")
    for r in missed:
        for row in range(r["start"]["row"], r["end"]["row"] + 1):
            print(f"coverage: template line {row} not covered: {lines[row - 1].strip()}")
    print(f"coverage of the template's Rego: {entry.get('coverage', 0):.1f}%")
    return 1 if missed else 0


def main(argv):
    if len(argv) == 3 and argv[1] == "check":
        return cmd_check(argv[2])
    if len(argv) == 5 and argv[1] == "prepare":
        return cmd_prepare(argv[2], argv[3], argv[4])
    if len(argv) == 4 and argv[1] == "coverage":
        return cmd_coverage(argv[2], argv[3])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
