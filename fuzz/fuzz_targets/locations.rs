#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| firelake_core::fuzzing::check_locations(data));
