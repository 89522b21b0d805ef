package signetverification

# Unit tests of the Rego in deploy/gatekeeper/template.yaml, run by
# scripts/test-deploy with `opa test --v0-compatible` and a capabilities file
# that declares Gatekeeper's external_data builtin. Each test replaces
# external_data with a fake signet-verify provider (`with external_data as`),
# the way Gatekeeper's builtin shapes the provider's answer:
#   {"responses": [[key, value]...], "errors": [[key, error]...],
#    "status_code": N, "system_error": "..."}
# The objects under review are in fixtures/objects.yaml (data.fixtures).

# ---------------------------------------------------------------- harness

# Gatekeeper's input: the admission request under review and the
# constraint's parameters.
gk_input(obj) := {
	"review": {
		"kind": {"group": "", "version": "v1", "kind": obj.kind},
		"namespace": obj.metadata.namespace,
		"operation": "CREATE",
		"object": obj,
	},
	"parameters": {},
}

gk_input_namespaced(obj) := {
	"review": {
		"kind": {"group": "", "version": "v1", "kind": obj.kind},
		"namespace": obj.metadata.namespace,
		"operation": "CREATE",
		"object": obj,
	},
	"parameters": {"namespaced": true},
}

named(images, prefix) := [{"name": sprintf("%s%d", [prefix, i]), "image": image} | image := images[i]]

pod(containers, init, ephemeral) := {
	"apiVersion": "v1",
	"kind": "Pod",
	"metadata": {"name": "p", "namespace": "team-a"},
	"spec": {
		"containers": named(containers, "c"),
		"initContainers": named(init, "i"),
		"ephemeralContainers": named(ephemeral, "e"),
	},
}

signed := "registry.example.com/prod/web:1.4"

unsigned := "registry.example.com/prod/unsigned:1"

untrusted_message := "no signature is trusted by policy production: signature is not produced by a trusted signer"

# A fake signet-verify provider. It answers by image name:
#   "outage"      -> the whole call fails (system_error)
#   "unreachable" -> a per-key error
#   "forgotten"   -> no item for that key
#   "unsigned"    -> isSuccess false, with a verifier report message
#   "silent"      -> isSuccess false, reports without a message
#   "mixed"       -> isSuccess false, one passing and one failing report
#   "malformed"   -> a value that is not a verification result
#   "inconsistent"-> isSuccess false although every report passed
#   otherwise     -> verified
# A call for any other provider name fails, so every test also checks the
# name the template asks for.
fake_signet(req) := resp {
	req.provider == "signet-verify"
	not outage(req.keys)
	resp := {
		"responses": [[k, fake_result(k)] | k := req.keys[_]; fake_answers(k)],
		"errors": [[k, sprintf("GET %s: connection refused", [k])] | k := req.keys[_]; contains(k, "unreachable")],
		"status_code": 200,
		"system_error": "",
	}
} else := resp {
	req.provider == "signet-verify"
	resp := {"responses": [], "errors": [], "status_code": 200, "system_error": "verification deadline of 2.5s exceeded"}
} else := {"responses": [], "errors": [], "status_code": 404, "system_error": sprintf("no provider %v", [req.provider])}

outage(keys) {
	contains(keys[_], "outage")
}

fake_answers(k) {
	not contains(k, "unreachable")
	not contains(k, "forgotten")
}

report(subject, ok, message) := {
	"subject": subject,
	"isSuccess": ok,
	"name": "signet",
	"verifierName": "signet",
	"type": "notation",
	"verifierType": "notation",
	"artifactType": "application/vnd.cncf.notary.signature",
	"message": message,
	"extensions": {},
}

result(ok, reports) := {"version": "0.2.0", "isSuccess": ok, "timestamp": "2026-01-01T00:00:00Z", "verifierReports": reports}

fake_result(k) := result(false, [report(k, false, untrusted_message)]) {
	contains(k, "unsigned")
} else := result(false, [report(k, false, "")]) {
	contains(k, "silent")
} else := result(false, [report(k, true, "signature by CN=ci verified"), report(k, false, "signature by CN=old has expired")]) {
	contains(k, "mixed")
} else := "sha256:0000" {
	contains(k, "malformed")
} else := result(false, [report(k, true, "signature by CN=ci verified")]) {
	contains(k, "inconsistent")
} else := result(true, [report(k, true, "signature verified")])

# A provider that answers under a key it was not asked about (as if it
# had normalized the reference) and not under the key it was asked about.
fake_renaming_provider(req) := {
	"responses": [[concat("", ["docker.io/library/", k]), result(false, [report(k, false, "unsigned")])] | k := req.keys[_]],
	"errors": [],
	"status_code": 200,
	"system_error": "",
}

# A provider that must not be called.
fake_unreachable_provider(req) := {"responses": [], "errors": [], "status_code": 500, "system_error": "external_data was called"}

messages(vs) := {v.msg | v := vs[_]}

# ---------------------------------------------------------------- images

test_pod_sends_containers_init_and_ephemeral_images {
	keys == [
		"registry.example.com/prod/migrate:2.1",
		"registry.example.com/prod/proxy@sha256:2c3a4e8f0b5d6c7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e",
		"registry.example.com/prod/web:1.4",
		"registry.example.com/tools/debug:1",
	] with input as gk_input(data.fixtures.pod)
}

test_pod_all_verified_no_violation {
	count(violation) == 0 with input as gk_input(data.fixtures.pod) with external_data as fake_signet
}

test_duplicate_images_are_sent_once {
	keys == [signed] with input as gk_input(pod([signed, signed], [signed], []))
}

test_deployment_uses_pod_template {
	keys == ["registry.example.com/prod/migrate:2.1", "registry.example.com/prod/web:1.4"] with input as gk_input(data.fixtures.deployment)
	count(violation) == 0 with input as gk_input(data.fixtures.deployment) with external_data as fake_signet
}

test_other_workloads_use_pod_template {
	expected := {
		"replicaset": ["registry.example.com/prod/web:1.4"],
		"statefulset": ["registry.example.com/prod/db:16"],
		"daemonset": ["registry.example.com/prod/agent:3"],
		"job": ["registry.example.com/prod/backup:1"],
		"replicationcontroller": ["registry.example.com/prod/legacy:0.9"],
	}
	got := {name: ks | expected[name]; ks := keys with input as gk_input(data.fixtures[name])}
	got == expected
}

test_cronjob_uses_job_template {
	keys == ["registry.example.com/prod/prepare:1", "registry.example.com/prod/unsigned-report:1"] with input as gk_input(data.fixtures.cronjob)
	messages(violation) == {sprintf("signet: image registry.example.com/prod/unsigned-report:1 failed signature verification: %s", [untrusted_message])} with input as gk_input(data.fixtures.cronjob) with external_data as fake_signet
}

test_object_without_images_calls_no_provider {
	count(keys) == 0 with input as gk_input(data.fixtures.service)
	not response with input as gk_input(data.fixtures.service) with external_data as fake_unreachable_provider
	count(violation) == 0 with input as gk_input(data.fixtures.service) with external_data as fake_unreachable_provider
}

# ---------------------------------------------------------------- verdicts

test_unsigned_container_is_a_violation_naming_image_and_reason {
	messages(violation) == {sprintf("signet: image %s failed signature verification: %s", [unsigned, untrusted_message])} with input as gk_input(pod([signed, unsigned], [], [])) with external_data as fake_signet
}

test_unsigned_init_container_is_a_violation {
	image := "registry.example.com/prod/unsigned-init:1"
	vs := violation with input as gk_input(pod([signed], [image], [])) with external_data as fake_signet
	count(vs) == 1
	contains(vs[_].msg, image)
}

test_unsigned_ephemeral_container_is_a_violation {
	image := "registry.example.com/tools/unsigned-debug:1"
	vs := violation with input as gk_input(pod([signed], [], [image])) with external_data as fake_signet
	count(vs) == 1
	contains(vs[_].msg, image)
}

test_every_failed_image_is_named {
	a := "registry.example.com/prod/unsigned-a:1"
	b := "registry.example.com/prod/unsigned-b:1"
	vs := violation with input as gk_input(pod([a, signed], [b], [])) with external_data as fake_signet
	count(vs) == 2
	count([v | v := vs[_]; contains(v.msg, a)]) == 1
	count([v | v := vs[_]; contains(v.msg, b)]) == 1
}

test_failure_without_report_message_still_a_violation {
	image := "registry.example.com/prod/silent:1"
	messages(violation) == {sprintf("signet: image %s failed signature verification: the provider gave no reason", [image])} with input as gk_input(pod([image], [], [])) with external_data as fake_signet
}

test_reason_comes_from_the_failed_reports {
	image := "registry.example.com/prod/mixed:1"
	messages(violation) == {sprintf("signet: image %s failed signature verification: signature by CN=old has expired", [image])} with input as gk_input(pod([image], [], [])) with external_data as fake_signet
}

test_value_that_is_not_a_result_is_a_violation {
	image := "registry.example.com/prod/malformed:1"
	messages(violation) == {sprintf("signet: image %s failed signature verification: the provider gave no reason", [image])} with input as gk_input(pod([image], [], [])) with external_data as fake_signet
}

test_reason_falls_back_to_any_report_message {
	image := "registry.example.com/prod/inconsistent:1"
	messages(violation) == {sprintf("signet: image %s failed signature verification: signature by CN=ci verified", [image])} with input as gk_input(pod([image], [], [])) with external_data as fake_signet
}

test_result_under_another_key_is_named_and_the_image_still_fails {
	messages(violation) == {
		"signet: image docker.io/library/nginx:1 failed signature verification: unsigned",
		"signet: no verification result for image nginx:1 (provider status 200)",
	} with input as gk_input(pod(["nginx:1"], [], [])) with external_data as fake_renaming_provider
}

test_system_error_is_a_violation {
	image := "registry.example.com/prod/outage:1"
	messages(violation) == {sprintf("signet: image verification failed for %s, %s: verification deadline of 2.5s exceeded", [image, signed])} with input as gk_input(pod([signed, image], [], [])) with external_data as fake_signet
}

test_per_key_error_is_a_violation {
	image := "registry.example.com/prod/unreachable:1"
	messages(violation) == {sprintf("signet: image %s could not be verified: GET %s: connection refused", [image, image])} with input as gk_input(pod([signed, image], [], [])) with external_data as fake_signet
}

test_missing_result_is_a_violation {
	image := "registry.example.com/prod/forgotten:1"
	messages(violation) == {sprintf("signet: no verification result for image %s (provider status 200)", [image])} with input as gk_input(pod([signed, image], [], [])) with external_data as fake_signet
}

# ---------------------------------------------------------------- namespaced keys

test_namespaced_keys_carry_the_namespace {
	keys == ["[team-a]registry.example.com/prod/migrate:2.1", "[team-a]registry.example.com/prod/web:1.4"] with input as gk_input_namespaced(data.fixtures.deployment)
}

test_namespaced_violation_names_the_plain_image {
	messages(violation) == {sprintf("signet: image %s failed signature verification: %s", [unsigned, untrusted_message])} with input as gk_input_namespaced(pod([signed, unsigned], [], [])) with external_data as fake_signet
}

test_namespaced_error_names_the_plain_image {
	image := "registry.example.com/prod/unreachable:1"
	messages(violation) == {sprintf("signet: image %s could not be verified: GET [team-a]%s: connection refused", [image, image])} with input as gk_input_namespaced(pod([image], [], [])) with external_data as fake_signet
}

test_namespaced_all_verified_no_violation {
	count(violation) == 0 with input as gk_input_namespaced(data.fixtures.pod) with external_data as fake_signet
}

test_namespace_from_the_request_when_the_object_has_none {
	obj := json.remove(data.fixtures.job, ["metadata/namespace"])
	inp := {"review": {"namespace": "batch-jobs", "object": obj}, "parameters": {"namespaced": true}}
	keys == ["[batch-jobs]registry.example.com/prod/backup:1"] with input as inp
}

test_namespace_from_the_object_when_the_request_has_none {
	inp := {"review": {"object": data.fixtures.job}, "parameters": {"namespaced": true}}
	keys == ["[team-a]registry.example.com/prod/backup:1"] with input as inp
}

test_namespaced_keys_without_any_namespace {
	obj := json.remove(data.fixtures.job, ["metadata/namespace"])
	keys == ["[]registry.example.com/prod/backup:1"] with input as {"review": {"object": obj}, "parameters": {"namespaced": true}}
}

test_plain_keys_unless_namespaced_is_true {
	inp := {"review": {"namespace": "team-a", "object": data.fixtures.job}, "parameters": {"namespaced": false}}
	keys == ["registry.example.com/prod/backup:1"] with input as inp
}
