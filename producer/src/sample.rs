//! The built-in sample source: a seeded generator of randomuser-shaped records (v1.4 shape,
//! with the API's quirks) and a small share of bad ones, so the embedded pipeline runs with no
//! network and exercises every cleaning rule. Same seed, same records.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;

const FIRST_F: &[&str] = &[
    "Ana", "Emma", "Olena", "Sofie", "Zeynep", "Mia", "Chloe", "Nora", "Laura", "Ida",
];
const FIRST_M: &[&str] = &[
    "Luis", "Noah", "Taras", "Mathis", "Emre", "Leon", "Oliver", "Jakob", "Aiden", "Arash",
];
const LAST: &[&str] = &[
    "Ruiz",
    "Smith",
    "Kovalenko",
    "Martin",
    "Yilmaz",
    "Müller",
    "Brown",
    "Hansen",
    "Ahmadi",
    "Jensen",
];
const CITIES: &[(&str, &str, &str, &str)] = &[
    ("Madrid", "Madrid", "Spain", "ES"),
    ("Leeds", "West Yorkshire", "United Kingdom", "GB"),
    ("Kyiv", "Kyivska", "Ukraine", "UA"),
    ("Lyon", "Rhône", "France", "FR"),
    ("İzmir", "Izmir", "Turkey", "TR"),
    ("Berlin", "Berlin", "Germany", "DE"),
    ("Dallas", "Texas", "United States", "US"),
    ("Bergen", "Vestland", "Norway", "NO"),
    ("Tehran", "Tehran", "Iran", "IR"),
    ("Aarhus", "Midtjylland", "Denmark", "DK"),
];
const OFFSETS: &[&str] = &[
    "-8:00", "-5:00", "0:00", "+1:00", "+2:00", "+3:30", "+5:30", "+9:00",
];
const WORDS: &[&str] = &[
    "tiny", "happy", "silver", "lazy", "red", "blue", "golden", "goose", "bear", "lion", "swan",
    "frog",
];

pub struct SampleGenerator {
    rng: ChaCha8Rng,
    bad_rate: f64,
    /// "Now" for ages and registration dates, fixed so the same seed gives the same bytes.
    now_s: i64,
}

impl SampleGenerator {
    pub fn new(seed: u64, bad_rate: f64) -> SampleGenerator {
        SampleGenerator {
            rng: ChaCha8Rng::seed_from_u64(seed),
            bad_rate,
            now_s: 1_748_736_000, // 2025-06-01
        }
    }

    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.rng.random_range(0..xs.len())]
    }

    fn iso(&mut self, s: i64) -> String {
        let mut out = String::new();
        firelake_core::time::format_ms(s * 1000 + self.rng.random_range(0..1000), &mut out);
        out
    }

    fn hex(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from_digit(self.rng.random_range(0..16), 16).unwrap())
            .collect()
    }

    /// One good record.
    fn good(&mut self) -> serde_json::Value {
        let female = self.rng.random_bool(0.5);
        let mut first = self
            .pick(if female { FIRST_F } else { FIRST_M })
            .to_string();
        let last = self.pick(LAST);
        let (city, state, country, nat) = self.pick(CITIES);
        // Quirks the cleaner must handle: padded or upper-case names and e-mails, gender case.
        if self.rng.random_bool(0.02) {
            first = format!(" {first}\u{a0}");
        }
        let mut email = format!(
            "{}.{}@example.com",
            first.trim().to_lowercase(),
            last.to_lowercase()
        );
        if self.rng.random_bool(0.02) {
            email = email.to_uppercase();
        }
        let mut gender = if female { "female" } else { "male" }.to_string();
        if self.rng.random_bool(0.01) {
            gender = format!(" {}", gender.to_uppercase());
        }
        let postcode = match nat {
            "GB" => json!(format!(
                "LS{} {}AB",
                self.rng.random_range(1..30),
                self.rng.random_range(1..9)
            )),
            "NO" => json!(format!("{:04}", self.rng.random_range(0..10_000))),
            _ => json!(self.rng.random_range(10_000..99_999)),
        };
        let age = self.rng.random_range(18..80);
        let dob = self.now_s - age * 31_557_600 - self.rng.random_range(0..31_557_600);
        let reg_age = self.rng.random_range(1..20);
        let registered = self.now_s - reg_age * 31_557_600;
        let uuid = uuid::Builder::from_random_bytes(self.rng.random()).into_uuid();
        let username = format!(
            "{}{}{}",
            self.pick(WORDS),
            self.pick(WORDS),
            self.rng.random_range(1..999)
        );
        json!({
            "gender": gender,
            "name": {"title": if female { "Ms" } else { "Mr" }, "first": first, "last": last},
            "location": {
                "street": {"number": self.rng.random_range(1..9999), "name": format!("{} Street", self.pick(WORDS))},
                "city": city, "state": state, "country": country, "postcode": postcode,
                "coordinates": {
                    "latitude": format!("{:.4}", self.rng.random_range(-90.0..90.0)),
                    "longitude": format!("{:.4}", self.rng.random_range(-180.0..180.0)),
                },
                "timezone": {"offset": self.pick(OFFSETS), "description": "sample"},
            },
            "email": email,
            "login": {
                "uuid": uuid.to_string(), "username": username,
                "password": self.pick(WORDS), "salt": self.hex(8),
                "md5": self.hex(32), "sha1": self.hex(40), "sha256": self.hex(64),
            },
            "dob": {"date": self.iso(dob), "age": age},
            "registered": {"date": self.iso(registered), "age": reg_age},
            "phone": format!("0{}-{}", self.rng.random_range(100..999), self.rng.random_range(1000..9999)),
            "cell": format!("0{}-{}", self.rng.random_range(100..999), self.rng.random_range(1000..9999)),
            "id": {"name": "ID", "value": self.hex(10)},
            "picture": {
                "large": format!("https://randomuser.me/api/portraits/{}/{}.jpg", if female { "women" } else { "men" }, self.rng.random_range(0..99)),
                "medium": "m", "thumbnail": "t",
            },
            "nat": nat,
        })
    }

    /// The next record's bytes: a good one, or (at the bad rate) a corrupt one of a random kind.
    pub fn next_record(&mut self) -> Vec<u8> {
        let mut rec = self.good();
        if !self.rng.random_bool(self.bad_rate) {
            return serde_json::to_vec(&rec).expect("JSON to memory");
        }
        match self.rng.random_range(0..5) {
            // Rejected: truncated JSON.
            0 => {
                let bytes = serde_json::to_vec(&rec).expect("JSON to memory");
                let cut = self.rng.random_range(1..bytes.len());
                bytes[..cut].to_vec()
            }
            // Rejected: invalid UTF-8 inside a string.
            1 => {
                rec["location"]["city"] = json!("BAD_UTF8");
                let bytes = serde_json::to_vec(&rec).expect("JSON to memory");
                let text = String::from_utf8(bytes).expect("valid");
                text.replace("BAD_UTF8", "\u{0}")
                    .into_bytes()
                    .into_iter()
                    .map(|b| if b == 0 { 0xFF } else { b })
                    .collect()
            }
            // Rejected: no uuid.
            2 => {
                rec["login"].as_object_mut().expect("object").remove("uuid");
                serde_json::to_vec(&rec).expect("JSON to memory")
            }
            // Kept with nulls: wrong types.
            3 => {
                rec["dob"]["age"] = json!("38");
                rec["location"]["coordinates"]["latitude"] = json!(45.9);
                serde_json::to_vec(&rec).expect("JSON to memory")
            }
            // Kept with a null: latitude out of range.
            _ => {
                rec["location"]["coordinates"]["latitude"] = json!("123.4567");
                serde_json::to_vec(&rec).expect("JSON to memory")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use firelake_core::{Cleaner, SourceDef};
    use std::sync::Arc;

    #[test]
    fn same_seed_same_records_and_a_few_bad_ones() {
        let a: Vec<_> = {
            let mut g = SampleGenerator::new(7, 0.05);
            (0..2000).map(|_| g.next_record()).collect()
        };
        let mut g = SampleGenerator::new(7, 0.05);
        let b: Vec<_> = (0..2000).map(|_| g.next_record()).collect();
        assert_eq!(a, b);
        let cleaner = Cleaner::new(Arc::new(SourceDef::resolve("users", None).unwrap()));
        let rejected = a.iter().filter(|r| cleaner.clean(r, 0).is_err()).count();
        // 5% bad, 3 of 5 kinds rejected: about 60 of 2000.
        assert!((30..=95).contains(&rejected), "{rejected}");
        assert!(!String::from_utf8_lossy(&a[0]).is_empty());
    }
}
