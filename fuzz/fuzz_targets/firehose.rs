#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| firelake_firehose_transformer::fuzzing::check_firehose(data));
