#![no_main]

use firelake_producer::replay::input::Format;
use firelake_producer::replay::rows::fuzzing::check_rows;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check_rows(Format::Jsonl, data));
