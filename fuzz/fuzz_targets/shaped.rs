//! Spec documents shaped by the spec's JSON Schema: the parser returns, and
//! every problem is located.

#![no_main]

use libfuzzer_sys::fuzz_target;
use modu_spec_fuzz::shaped::Document;

fuzz_target!(|document: Document| modu_spec_fuzz::check(document.0.as_bytes()));
