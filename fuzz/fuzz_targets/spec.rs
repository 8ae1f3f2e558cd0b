//! Any bytes as a spec file: the parser returns, and every problem is located.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| modu_spec_fuzz::check(bytes));
