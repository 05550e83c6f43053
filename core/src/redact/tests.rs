use super::*;

const USERS: [&str; 5] = [
    "/login/password",
    "/login/salt",
    "/login/md5",
    "/login/sha1",
    "/login/sha256",
];

fn users() -> Redactor {
    Redactor::new(&USERS)
}

fn text(r: &Redacted) -> String {
    String::from_utf8_lossy(&r.bytes).into_owned()
}

const RECORD: &str = r#"{"login": {"uuid":"u-1", "username":"frog7",
  "password":"QZXJ-91", "salt":"QZXJ-92", "md5":"QZXJ-93", "sha1":"QZXJ-94",
  "sha256":"QZXJ-95"}, "email":"a@b.c", "n": [1, 2.5e3, null]}"#;

#[test]
fn json_values_are_replaced_and_every_other_byte_kept() {
    let r = users().redact(Raw::Record(RECORD.as_bytes()));
    assert_eq!(r.method, Method::Json);
    assert_eq!(r.pointers, USERS);
    let expected = RECORD
        .replace("\"QZXJ-91\"", "\"<redacted>\"")
        .replace("\"QZXJ-92\"", "\"<redacted>\"")
        .replace("\"QZXJ-93\"", "\"<redacted>\"")
        .replace("\"QZXJ-94\"", "\"<redacted>\"")
        .replace("\"QZXJ-95\"", "\"<redacted>\"");
    assert_eq!(text(&r), expected);
    let v: serde_json::Value = serde_json::from_slice(&r.bytes).unwrap();
    assert_eq!(v["login"]["uuid"], "u-1");
}

#[test]
fn any_value_type_is_replaced_nested_and_in_arrays() {
    let red = Redactor::new(&["/a/b", "/list/1/secret", "/list/0", "/deep/x/y/z"]);
    let raw = r#"{"a":{"b":{"nested":[1,"QZXJ"]},"c":1},"list":[{"secret":"keep-0"},{"secret":42,"other":"ok"},3],"deep":{"x":{"y":{"z":[true,"QZXJ"]}}}}"#;
    let r = red.redact(Raw::Record(raw.as_bytes()));
    assert_eq!(
        text(&r),
        r#"{"a":{"b":"<redacted>","c":1},"list":["<redacted>",{"secret":"<redacted>","other":"ok"},3],"deep":{"x":{"y":{"z":"<redacted>"}}}}"#
    );
    // /list/0 was replaced whole: the /list/0/... pointers inside it need nothing more.
    assert_eq!(
        r.pointers,
        ["/a/b", "/list/1/secret", "/list/0", "/deep/x/y/z"]
    );
}

#[test]
fn keys_named_like_a_pointer_are_redacted_wherever_the_record_puts_them() {
    // A rejected record often has another shape: an envelope, an array, JSON in a string.
    let raw = r#"[{"user":{"login":{"Password":{"v":"QZXJ"}}}},{"batch":[{"salt":7}]},
        {"note":"{\"md5\":\"QZXJ\",\"n\":1}","cut":"sha1=QZXJ&x","login":{"uuid":"u"}}]"#;
    let r = users().redact(Raw::Record(raw.as_bytes()));
    assert_eq!(r.method, Method::Json);
    assert_eq!(
        text(&r),
        r#"[{"user":{"login":{"Password":"<redacted>"}}},{"batch":[{"salt":"<redacted>"}]},
        {"note":"{\"md5\":\"<redacted>\",\"n\":1}","cut":"sha1=<redacted>&x","login":{"uuid":"u"}}]"#
    );
    serde_json::from_slice::<serde_json::Value>(&r.bytes).unwrap();
    assert_eq!(
        r.pointers,
        [
            "/login/password",
            "/login/salt",
            "/login/md5",
            "/login/sha1"
        ]
    );
}

#[test]
fn array_indices_are_rfc6901_tokens() {
    let red = Redactor::new(&["/a/01", "/a/-", "/a/2"]);
    let r = red.redact(Raw::Record(br#"{"a":["x","y"]}"#));
    assert_eq!(r.method, Method::None);
    assert_eq!(&*r.bytes, br#"{"a":["x","y"]}"#);
    // A token is an object key where the value is an object.
    let r = Redactor::new(&["/a/01"]).redact(Raw::Record(br#"{"a":{"01":"QZXJ"}}"#));
    assert_eq!(text(&r), r#"{"a":{"01":"<redacted>"}}"#);
}

#[test]
fn escaped_keys_and_pointer_escapes_match() {
    // The record spells "password" with a \u escape; the pointers escape '/' and '~'.
    let red = Redactor::new(&["/login/password", "/a~1b/c~0d"]);
    let raw = r#"{"login":{"pass\u0077ord":"QZXJ"},"a/b":{"c~d":"QZXJ2","c":"kept"}}"#;
    let r = red.redact(Raw::Record(raw.as_bytes()));
    assert_eq!(
        text(&r),
        r#"{"login":{"pass\u0077ord":"<redacted>"},"a/b":{"c~d":"<redacted>","c":"kept"}}"#
    );
}

#[test]
fn duplicate_keys_are_all_redacted_and_escaped_values_too() {
    let raw = r#"{"login":{"password":"QZXJ \"quoted\" \\","password":"QZXJ2"}}"#;
    let r = users().redact(Raw::Record(raw.as_bytes()));
    assert_eq!(
        text(&r),
        r#"{"login":{"password":"<redacted>","password":"<redacted>"}}"#
    );
    assert_eq!(r.pointers, ["/login/password"]);
}

#[test]
fn nothing_to_redact_borrows_the_input() {
    for raw in [
        &br#"{"login":{"uuid":"u"}}"#[..],
        b"[1,2]",
        b"\"just a string\"",
        b"not json at all",
        b"",
    ] {
        let r = users().redact(Raw::Record(raw));
        assert!(matches!(r.bytes, Cow::Borrowed(_)));
        assert_eq!(r.method, Method::None);
        assert!(r.pointers.is_empty());
    }
    let none = Redactor::new::<&str>(&[]);
    let r = none.redact(Raw::Record(RECORD.as_bytes()));
    assert_eq!(&*r.bytes, RECORD.as_bytes());
}

/// Every 4-byte window of every secret value in `RECORD`.
fn secret_windows() -> Vec<String> {
    ["QZXJ-91", "QZXJ-92", "QZXJ-93", "QZXJ-94", "QZXJ-95"]
        .iter()
        .flat_map(|s| (0..=s.len() - 4).map(move |i| s[i..i + 4].to_string()))
        .collect()
}

#[test]
fn a_record_cut_anywhere_keeps_no_part_of_a_secret() {
    let red = users();
    let windows = secret_windows();
    for cut in 1..RECORD.len() {
        let raw = &RECORD.as_bytes()[..cut];
        let r = red.redact(Raw::Record(raw));
        let out = text(&r);
        for w in &windows {
            assert!(!out.contains(w.as_str()), "cut at {cut}: {w:?} in {out}");
        }
        // What is kept is the input up to the first value replaced.
        let first = raw.windows(4).position(|w| w == b"QZXJ");
        if let Some(p) = first {
            assert_eq!(out.as_bytes()[..p], raw[..p], "cut at {cut}");
            assert_eq!(r.method, Method::Text);
        }
    }
}

#[test]
fn invalid_utf8_and_text_forms_are_redacted_by_key() {
    let mut raw = br#"{"login":{"password":"QZXJ-91","city":""#.to_vec();
    raw.push(0xFF);
    raw.extend_from_slice(br#"","salt" : "QZXJ-92"}}"#);
    let r = users().redact(Raw::Record(&raw));
    assert_eq!(r.method, Method::Text);
    assert_eq!(r.pointers, ["/login/password", "/login/salt"]);
    let mut expected = br#"{"login":{"password":"<redacted>","city":""#.to_vec();
    expected.push(0xFF);
    expected.extend_from_slice(br#"","salt" : "<redacted>"}}"#);
    assert_eq!(&*r.bytes, &expected[..]);

    for (raw, expected) in [
        // A query string, a log line, JSON escaped inside a string, CSV-doubled quotes.
        ("a=1&password=QZXJ&b=2", "a=1&password=<redacted>&b=2"),
        (
            "user=x PASSWORD: QZXJ\nnext",
            "user=x PASSWORD: <redacted>\nnext",
        ),
        (
            r#"{"payload":"{\"password\":\"QZXJ\\\"x\",\"md5\":\"QZXJ"#,
            r#"{"payload":"{\"password\":\"<redacted>\",\"md5\":\"<redacted>"#,
        ),
        (
            r#"1,"{""sha1"":""QZXJ"",""n"":1}""#,
            r#"1,"{""sha1"":""<redacted>"",""n"":1}""#,
        ),
        // A key inside a longer word, or used as a value, is not a key.
        (
            r#"{"passwords":"a","x":"salt","mysalt":1"#,
            r#"{"passwords":"a","x":"salt","mysalt":1"#,
        ),
    ] {
        let r = users().redact(Raw::Record(raw.as_bytes()));
        assert_eq!(text(&r), expected, "{raw}");
    }
}

#[test]
fn rows_whose_header_names_a_secret_are_replaced_whole() {
    let headers: Vec<String> = ["id", " Password ", "city"].map(String::from).to_vec();
    let red = Redactor::new(&["/password"]);
    let r = red.redact(Raw::Row {
        bytes: b"1,QZXJ,Leeds,extra",
        headers: &headers,
    });
    assert_eq!(r.method, Method::WholeRow);
    assert_eq!(&*r.bytes, MARKER.as_bytes());
    assert_eq!(r.pointers, ["/password"]);
    let plain: Vec<String> = ["id", "city"].map(String::from).to_vec();
    let r = red.redact(Raw::Row {
        bytes: b"1,Leeds,extra",
        headers: &plain,
    });
    assert_eq!((&*r.bytes, r.method), (&b"1,Leeds,extra"[..], Method::None));
}

#[test]
fn huge_and_deep_inputs_are_handled() {
    // 20 MB of JSON with the secret at the end of a large array's last element.
    let mut big = String::from(r#"{"items":["#);
    for i in 0..400_000 {
        big.push_str(&format!(
            r#"{{"n":{i},"pad":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}},"#
        ));
    }
    big.push_str(r#"{"password":"QZXJ"}],"login":{"password":"QZXJ-top"}}"#);
    let red = Redactor::new(&["/login/password", "/items/400000/password"]);
    let r = red.redact(Raw::Record(big.as_bytes()));
    assert_eq!(r.method, Method::Json);
    let expected = big
        .replace("\"QZXJ\"", "\"<redacted>\"")
        .replace("\"QZXJ-top\"", "\"<redacted>\"");
    assert!(text(&r) == expected);
    // Truncated: text redaction, linear in the input.
    let cut = &big.as_bytes()[..big.len() - 3];
    let r = red.redact(Raw::Record(cut));
    assert_eq!(r.method, Method::Text);
    assert!(!text(&r).contains("QZXJ"));
    // Nested past the walk's depth: redacted as text (the walk's recursion stays bounded).
    let deep = format!(
        "{{\"deep\":{}{},\"login\":{{\"password\":\"QZXJ\"}}}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let r = users().redact(Raw::Record(deep.as_bytes()));
    assert_eq!(r.method, Method::Text);
    assert!(text(&r).ends_with(r#"],"login":{"password":"<redacted>"}}"#));
    let r = users().redact(Raw::Record(&deep.as_bytes()[..deep.len() - 1]));
    assert_eq!(r.method, Method::Text);
    assert!(!text(&r).contains("QZXJ"));
}

#[test]
fn locations_are_shown_without_query_or_user_info() {
    for (url, shown) in [
        (
            "kafka://b-1:9096,b-2:9096/orders?sasl.password=QZXJ",
            "kafka://b-1:9096,b-2:9096/orders",
        ),
        (
            "kafka://user:QZXJ@b-1:9096/orders",
            "kafka://b-1:9096/orders",
        ),
        (
            "https://api.example/v1/users?api_key=QZXJ#frag",
            "https://api.example/v1/users",
        ),
        ("https://u:QZXJ@api.example/a@b", "https://api.example/a@b"),
        ("kinesis://users", "kinesis://users"),
        ("embedded", "embedded"),
        ("plain/path?x=QZXJ", "plain/path"),
    ] {
        assert_eq!(shown_location(url), shown, "{url}");
    }
}
