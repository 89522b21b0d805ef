//! Fuzzes what reaches the admission server from the API server, Gatekeeper
//! and the policy directory: AdmissionReview requests (the container images
//! of every kind and subresource), image-name globs, `?timeout=` durations,
//! `[namespace]image` keys and policy documents. None of it may panic, and
//! every image found must come with a JSON pointer that resolves to it.
#![no_main]

use std::{collections::BTreeMap, path::Path};

use admission::{
    gatekeeper::split_key,
    glob::Glob,
    policy::PolicySet,
    review::{AdmissionRequest, images},
    server::parse_go_duration,
};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = serde_json::from_slice::<AdmissionRequest>(data) {
        if let Ok(found) = images(&request) {
            for c in found {
                let object = request.object.as_ref().expect("images come from the object");
                let at = object.pointer(&c.pointer).and_then(Value::as_str);
                assert_eq!(at, Some(c.image.as_str()), "pointer {} does not name the image", c.pointer);
            }
        }
    }
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = parse_go_duration(text);
    let _ = split_key(text);
    if let Some((pattern, name)) = text.split_once('\n')
        && let Ok(glob) = Glob::new(pattern)
    {
        let _ = glob.matches(name);
        let _ = glob.specificity();
    }
    let files = BTreeMap::from([("p.yaml".to_owned(), text.to_owned())]);
    let _ = PolicySet::from_files(Path::new("/policies"), &files);
});
