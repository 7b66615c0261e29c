//! The engine on small schemas; the plugin's tests run it on Calico's real CRDs and the local
//! API server's tests through its HTTP API.

use serde_json::{Value, json};

use go_compat::strconv::go_quote;

use crate::validate::json_type;
use crate::{
    FieldError, Options, Schema, Seg, bad_value, formats, key, render_field_path, render_path,
    set_at, value_at,
};

fn schema(v: Value) -> Schema {
    let (s, p) = Schema::parse(&v, "schema", false);
    assert!(p.decode.is_empty() && p.invalid.is_empty(), "{p:?}");
    s
}

fn messages(errs: &[FieldError]) -> Vec<String> {
    errs.iter().map(|e| e.message.clone()).collect()
}

#[test]
fn prune_reports_the_paths_of_unknown_fields() {
    let s = schema(json!({"type":"object","properties":{
    "spec":{"type":"object","properties":{
        "a":{"type":"string"},
        "list":{"type":"array","items":{"type":"object","properties":{"x":{"type":"string"}}}},
        "free":{"type":"object","x-kubernetes-preserve-unknown-fields":true},
        "map":{"type":"object","additionalProperties":{"type":"string"}}
    }}}}));
    let mut v = json!({"apiVersion":"a/v1","kind":"K","metadata":{"name":"x"},
        "spec":{"a":"1","z":1,"list":[{"x":"1","y":2}],"free":{"q":{"r":1}},"map":{"k":"v"}},
        "top":true});
    let unknown: Vec<String> = s
        .prune(&mut v)
        .iter()
        .map(|p| render_field_path(p))
        .collect();
    assert_eq!(unknown, vec!["spec.z", "spec.list[0].y", "top"]);
    assert_eq!(
        v,
        json!({"apiVersion":"a/v1","kind":"K","metadata":{"name":"x"},
        "spec":{"a":"1","list":[{"x":"1"}],"free":{"q":{"r":1}},"map":{"k":"v"}}})
    );
}

#[test]
fn nulls_and_defaults() {
    let s = schema(json!({"type":"object","properties":{
        "a":{"type":"string"},
        "b":{"type":"string","nullable":true},
        "c":{"type":"string","default":"C"},
        "n":{"type":"object","properties":{"d":{"type":"integer","default":0}}},
        "arr":{"type":"array","items":{"type":"integer","nullable":true}}
    }}));
    let mut v = json!({"a":null,"b":null,"c":null,"n":{},"arr":[1,null]});
    s.prune_nulls(&mut v);
    s.apply_defaults(&mut v);
    assert_eq!(v, json!({"b":null,"c":"C","n":{"d":0},"arr":[1,null]}));
    assert!(s.validate_applied(&v).is_empty());
}

#[test]
fn type_messages() {
    let s = schema(
        json!({"type":"object","properties":{"spec":{"type":"object","properties":{
            "deleted":{"type":"string"},
            "n":{"type":"integer"},
            "p":{"x-kubernetes-int-or-string":true,"anyOf":[{"type":"integer"},{"type":"string"}]},
            "cidr":{"type":"string","format":"cidr"}
        }}}}),
    );
    let errs = s.validate(&json!({"spec":{"deleted":true,"n":1.5,"p":"x","cidr":"10.0.0.0/8"}}));
    assert_eq!(
        messages(&errs),
        vec![
            "spec.deleted: Invalid value: \"boolean\": spec.deleted in body must be of type string: \"boolean\"",
            "spec.n: Invalid value: \"number\": spec.n in body must be of type integer: \"number\"",
        ]
    );
    assert!(errs.iter().all(|e| e.kind == crate::ErrorType::TypeInvalid));
    assert!(s.validate(&json!({"spec":{"n":2.0,"p":5}})).is_empty());
    let msgs = messages(&s.validate(&json!({"spec":{"p":true,"cidr":"nope"}})));
    assert!(
        msgs.contains(
            &"spec.cidr: Invalid value: \"nope\": spec.cidr in body must be of type cidr: \"nope\""
                .to_string()
        )
    );
    assert!(msgs.contains(
        &"spec.p: Invalid value: \"boolean\": spec.p in body must be of type integer,string: \"boolean\"".to_string()
    ));
    assert!(
        msgs.contains(
            &"<nil>: Invalid value: \"\": \"spec.p\" must validate at least one schema (anyOf)"
                .to_string()
        )
    );
}

#[test]
fn value_validations() {
    let s = schema(json!({"type":"object","required":["r"],"properties":{
        "e":{"type":"string","enum":["A","B"]},
        "min":{"type":"integer","minimum":0,"maximum":128},
        "len":{"type":"string","maxLength":3,"minLength":2},
        "items":{"type":"array","maxItems":1,"minItems":1,"items":{"type":"string"}},
        "set":{"type":"array","x-kubernetes-list-type":"set","items":{"type":"string"}},
        "pat":{"type":"string","pattern":"^a+$"}
    }}));
    let object = json!({"e":"Foo","min":129,"len":"abcd","items":[],"set":["a","a"],"pat":"b"});
    let msgs = messages(&s.validate(&object));
    for want in [
        "e: Unsupported value: \"Foo\": supported values: \"A\", \"B\"",
        "min: Invalid value: 129: min in body should be less than or equal to 128",
        "len: Too long: may not be longer than 3",
        "items: Invalid value: 0: items in body should have at least 1 items",
        "pat: Invalid value: \"b\": pat in body should match '^a+$'",
        "r: Required value",
        "set[1]: Duplicate value: \"a\"",
    ] {
        assert!(msgs.contains(&want.to_string()), "{want}: {msgs:?}");
    }
    let errs = s.validate(&json!({"r":1,"items":["a","b"]}));
    assert_eq!(
        errs[0].message,
        "items: Too many: 2: must have at most 1 items"
    );
    // The wording of Kubernetes 1.32 for maxLength.
    let newer = s.clone().with_options(Options {
        too_long_in_bytes: true,
        ..Options::default()
    });
    let msgs = messages(&newer.validate(&object));
    assert!(msgs.contains(&"len: Too long: may not be more than 3 bytes".to_string()));
}

#[test]
fn cel_rules_are_evaluated_only_where_the_options_say() {
    let s = schema(
        json!({"type":"object","properties":{"spec":{"type":"object",
        "x-kubernetes-validations":[{"rule":"self.a == 'x'","message":"a must be x"}],
        "properties":{"a":{"type":"string"}}}}}),
    );
    let object = json!({"spec":{"a":"y"}});
    assert_eq!(
        messages(&s.validate(&object)),
        ["spec: Invalid value: \"object\": a must be x"]
    );
    let without = s.with_options(Options {
        cel_rules: false,
        ..Options::default()
    });
    assert!(without.validate(&object).is_empty());
}

#[test]
fn formats() {
    let holds = |f: &str, text: &str| formats::format_holds(&f.replace('-', ""), text);
    assert!(holds("cidr", "fd00::/122") && !holds("cidr", "10.0.0.1"));
    assert!(holds("date-time", "2024-01-02T03:04:05Z") && !holds("date-time", "yesterday"));
    assert!(!formats::is_checked("int32") && formats::is_checked("date-time"));
    assert!(holds("ipv4", "1.2.3.4") && !holds("ipv6", "1.2.3.4"));
    assert!(holds("mac", "aa:bb:cc:dd:ee:ff"));
    assert!(holds("byte", "aGk=") && !holds("byte", "!!"));
}

#[test]
fn bad_schemas_are_reported_as_the_api_server_reports_them() {
    let (_, p) = Schema::parse(
        &json!({"type":"object","properties":{"a":{"type":"strin","pattern":"("}}}),
        "s",
        false,
    );
    assert_eq!(p.invalid.len(), 2, "{:?}", p.invalid);
    assert_eq!(p.invalid[0].field, "s.properties[a].type");
    let (_, p) = Schema::parse(&json!({"type":"array","uniqueItems":true}), "s", false);
    assert_eq!(
        messages(&p.invalid),
        [
            "s.uniqueItems: Forbidden: uniqueItems cannot be set to true since the runtime complexity becomes quadratic"
        ]
    );
    let (_, p) = Schema::parse(&json!({"type":5}), "s", false);
    assert_eq!(
        p.decode,
        [
            "json: cannot unmarshal number into Go struct field JSONSchemaProps.s.type of type string"
        ]
    );
}

#[test]
fn each_pattern_and_rule_is_compiled_once() {
    let v = json!({"type":"object","properties":{
        "a":{"type":"string","pattern":"^x$","x-kubernetes-validations":[{"rule":"self != ''"}]},
        "b":{"type":"string","pattern":"^x$","x-kubernetes-validations":[{"rule":"self != ''"}]},
        "c":{"type":"string","pattern":"^(y$"}
    }});
    let (s, problems) = Schema::parse(&v, "s", false);
    assert_eq!(problems.invalid.len(), 1);
    assert_eq!((s.pattern_count(), s.rule_count()), (2, 1));
    assert_eq!(s.pattern_errors().len(), 1);
}

#[test]
fn paths_render_with_indexes_and_quoted_keys() {
    let path = [
        key("metadata"),
        key("annotations"),
        key("projectcalico.org/metadata"),
    ];
    assert_eq!(
        render_path(&path),
        r#"metadata.annotations["projectcalico.org/metadata"]"#
    );
    assert_eq!(
        render_path(&[key("spec"), key("allocations"), Seg::Index(5)]),
        "spec.allocations[5]"
    );
    let mut v = json!({"a": [{"b": 1}]});
    assert_eq!(
        value_at(&v, &[key("a"), Seg::Index(0), key("b")]),
        Some(&json!(1))
    );
    assert!(set_at(
        &mut v,
        &[key("a"), Seg::Index(0), key("c")],
        json!(2)
    ));
    assert!(!set_at(&mut v, &[key("x"), key("y")], json!(2)));
    assert_eq!(v, json!({"a": [{"b": 1, "c": 2}]}));
}

/// A schema whose `spec` is `spec`.
fn spec_schema(spec: Value) -> Schema {
    Schema::new(
        json!({"type": "object", "properties": {"spec": spec}}),
        false,
    )
}

/// The causes for `spec.x: value` under `x`'s schema `field`.
fn field_causes(field: Value, value: Value) -> Vec<String> {
    let schema = spec_schema(json!({"type": "object", "properties": {"x": field}}));
    schema.causes(&json!({"spec": {"x": value}}))
}

fn type_cause(wanted: &str, got: &str) -> String {
    format!("spec.x: Invalid value: \"{got}\": spec.x in body must be of type {wanted}: \"{got}\"")
}

/// Checks each value against the field schema, expecting no cause (`None`) or the one given.
fn assert_field_causes(field: &Value, cases: &[(Value, Option<&str>)]) {
    for (value, want) in cases {
        let want: Vec<&str> = want.iter().copied().collect();
        assert_eq!(
            field_causes(field.clone(), value.clone()),
            want,
            "{value} under {field}"
        );
    }
}

#[test]
fn types_are_checked_as_the_api_server_checks_them() {
    let cases = [
        ("object", json!({"a": 1}), json!([1])),
        ("array", json!([1]), json!({"a": 1})),
        ("string", json!("x"), json!(1)),
        ("integer", json!(3), json!("3")),
        ("number", json!(1.5), json!(true)),
        ("boolean", json!(false), json!("false")),
    ];
    for (wanted, good, bad) in cases {
        assert_eq!(
            field_causes(json!({"type": wanted}), good),
            Vec::<String>::new(),
            "{wanted}"
        );
        let got = json_type(&bad).0;
        assert_eq!(
            field_causes(json!({"type": wanted}), bad),
            [type_cause(wanted, got)],
            "{wanted}"
        );
    }
    // Integer means a whole number (2.0 is one); number accepts integers.
    assert!(field_causes(json!({"type": "integer"}), json!(2.0)).is_empty());
    assert_eq!(
        field_causes(json!({"type": "integer"}), json!(1.5)),
        [type_cause("integer", "number")]
    );
    assert!(field_causes(json!({"type": "number"}), json!(7)).is_empty());
    // A whole number beyond int64 decodes as a float, as in Go.
    assert!(field_causes(json!({"type": "number"}), json!(u64::MAX)).is_empty());
}

#[test]
fn nulls_pass_only_where_nullable() {
    // A null field is pruned before validation; a null list item is not.
    let list = |nullable: bool| json!({"type": "array", "items": {"type": "integer", "nullable": nullable}});
    assert!(field_causes(list(true), json!([1, null])).is_empty());
    assert_eq!(
        field_causes(list(false), json!([1, null])),
        ["spec.x[1]: Invalid value: \"null\": spec.x[1] in body must be of type integer: \"null\""]
    );
    assert!(field_causes(json!({"type": "string"}), json!(null)).is_empty());
    assert!(field_causes(json!({"type": "string", "nullable": true}), json!(null)).is_empty());
}

#[test]
fn int_or_string_takes_both_and_reports_other_types_like_the_server() {
    let field = json!({"anyOf": [{"type": "integer"}, {"type": "string"}],
        "x-kubernetes-int-or-string": true, "pattern": "^.*"});
    assert!(field_causes(field.clone(), json!(80)).is_empty());
    assert!(field_causes(field.clone(), json!("8000:8080")).is_empty());
    assert_eq!(
        field_causes(field, json!(true)),
        [
            type_cause("integer,string", "boolean"),
            "<nil>: Invalid value: \"\": \"spec.x\" must validate at least one schema (anyOf)"
                .to_string(),
            type_cause("integer", "boolean"),
        ]
    );
}

#[test]
fn preserved_unknown_fields_are_not_validated_but_described_ones_are() {
    let field = json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true,
        "properties": {"n": {"type": "integer"}}});
    assert!(
        field_causes(
            field.clone(),
            json!({"free": [true, {"any": "thing"}], "n": 1})
        )
        .is_empty()
    );
    assert_eq!(
        field_causes(field, json!({"free": 1, "n": "one"})),
        [
            "spec.x.n: Invalid value: \"string\": spec.x.n in body must be of type integer: \"string\""
        ]
    );
}

#[test]
fn required_fields_are_reported_after_defaults_are_applied() {
    let schema = spec_schema(json!({"type": "object", "required": ["a", "b", "c"],
        "properties": {"a": {"type": "string"}, "b": {"type": "string", "default": "x"},
                       "c": {"type": "string"}}}));
    assert_eq!(
        schema.causes(&json!({"spec": {"c": "here"}})),
        ["spec.a: Required value"]
    );
    // A non-nullable null is pruned, so it is missing.
    assert_eq!(
        schema.causes(&json!({"spec": {"a": "x", "c": null}})),
        ["spec.c: Required value"]
    );
}

#[test]
fn enum_failures_list_the_supported_values() {
    let field = json!({"type": "string", "enum": ["A", "B"]});
    assert!(field_causes(field.clone(), json!("A")).is_empty());
    assert_eq!(
        field_causes(field, json!("Foo")),
        ["spec.x: Unsupported value: \"Foo\": supported values: \"A\", \"B\""]
    );
    let numbers = json!({"type": "number", "enum": [1, 2.5, true, null]});
    assert!(field_causes(numbers.clone(), json!(1.0)).is_empty());
    assert!(field_causes(numbers.clone(), json!(2.5)).is_empty());
    assert_eq!(
        field_causes(numbers, json!(3)),
        ["spec.x: Unsupported value: 3: supported values: \"1\", \"2.5\", \"true\", \"null\""]
    );
    // A null never matches an enum.
    assert_eq!(
        field_causes(
            json!({"type": "string", "nullable": true, "enum": ["A"]}),
            json!(null)
        ),
        ["spec.x: Unsupported value: \"null\": supported values: \"A\""]
    );
}

#[test]
fn patterns_are_go_regular_expressions() {
    let field = json!({"type": "string", "pattern": r"^\d+(ms|s)$"});
    assert!(field_causes(field.clone(), json!("15ms")).is_empty());
    assert_eq!(
        field_causes(field.clone(), json!("1.5s")),
        [r#"spec.x: Invalid value: "1.5s": spec.x in body should match '^\d+(ms|s)$'"#]
    );
    // \d is ASCII in Go.
    assert_eq!(field_causes(field, json!("١٥s")).len(), 1);
}

#[test]
fn string_formats_are_checked_where_the_api_server_checks_them() {
    let cases: &[(&str, &[&str], &[&str])] = &[
        (
            "date-time",
            &["2025-06-18T14:05:01Z", "2025-06-18t14:05:01.5+02:00"],
            &[
                "2025-06-18 14:05:01",
                "2025-02-30T00:00:00Z",
                "2025-06-18T24:00:00Z",
                "yesterday",
            ],
        ),
        (
            "date",
            &["2024-02-29"],
            &["2023-02-29", "2024-2-1", "2024-13-01"],
        ),
        (
            "cidr",
            &[
                "10.0.0.0/8",
                "fd00::/64",
                "010.0.0.0/8",
                "::ffff:1.2.3.4/120",
            ],
            &[
                "10.0.0.0",
                "10.0.0.0/33",
                "fd00::/129",
                "10.0.0.0/x",
                "nope",
            ],
        ),
        (
            "ipv4",
            &["10.1.2.3", "010.1.2.3", "::ffff:1.2.3.4"],
            &["10.1.2", "256.1.1.1", "fd00::1"],
        ),
        (
            "ipv6",
            &["fd00::1", "::", "::ffff:1.2.3.4", "1:2:3:4:5:6:7:8"],
            &[
                "10.1.2.3",
                "fd00::1%eth0",
                "1:2:3:4:5:6:7:8:9",
                "1::2::3",
                "12345::",
            ],
        ),
        (
            "uuid",
            &[
                "0b9d7e36-3e2e-4d7a-9f0a-3f8c2b1e4a5d",
                "0B9D7E363E2E4D7A9F0A3F8C2B1E4A5D",
            ],
            &["0b9d7e36-3e2e-4d7a-9f0a"],
        ),
        (
            "uuid4",
            &["0b9d7e36-3e2e-4d7a-9f0a-3f8c2b1e4a5d"],
            &["0b9d7e36-3e2e-3d7a-9f0a-3f8c2b1e4a5d"],
        ),
        (
            "byte",
            &["aGVsbG8=", "aGk="],
            &["", "not base64!", "aGVsbG8"],
        ),
        (
            "mac",
            &["00:1a:2b:3c:4d:5e", "00-1A-2B-3C-4D-5E", "001a.2b3c.4d5e"],
            &["00:1a:2b:3c:4d", "00:1a-2b:3c:4d:5e"],
        ),
        (
            "hostname",
            &["node-1.example.com", "localhost"],
            &["-bad.example.com", "a..b"],
        ),
        (
            "email",
            &["ops@example.com", "Ops <ops@example.com>"],
            &["ops", "ops@", "@example.com"],
        ),
        (
            "uri",
            &[
                "https://example.com:8443/x?y",
                "/absolute/path",
                "urn:isbn:123",
            ],
            &["relative/path", "", "http://host:port/", "/bad%zz"],
        ),
        ("duration", &["1h30m", "3 days", "10min"], &["soon", "1.5"]),
        (
            "bsonobjectid",
            &["507f1f77bcf86cd799439011"],
            &["507f1f77bcf86cd79943901"],
        ),
        ("hexcolor", &["#fff", "a0b1c2"], &["#ffff"]),
        ("rgbcolor", &["rgb(255, 0, 10)"], &["rgb(256,0,0)"]),
        ("ssn", &["123-45-6789"], &["123456789"]),
        ("isbn10", &["0-321-75104-3"], &["0321751044"]),
        ("isbn13", &["978-0321751041"], &["9780321751042"]),
        ("isbn", &["0321751043", "9780321751041"], &["1234"]),
        (
            "creditcard",
            &["4111 1111 1111 1111"],
            &["4111 1111 1111 1112"],
        ),
        ("password", &["anything"], &[]),
    ];
    for (format, good, bad) in cases {
        let field = json!({"type": "string", "format": format});
        for value in *good {
            assert_eq!(
                field_causes(field.clone(), json!(value)),
                Vec::<String>::new(),
                "{format} {value:?}"
            );
        }
        for value in *bad {
            assert_eq!(
                field_causes(field.clone(), json!(value)),
                [format!(
                    "spec.x: Invalid value: {q}: spec.x in body must be of type {format}: {q}",
                    q = go_quote(value)
                )],
                "{format} {value:?}"
            );
        }
    }
    // int32 and int64 are dropped by the server: no range check (docs/design.md §14); so are
    // formats it does not know.
    assert!(
        field_causes(
            json!({"type": "integer", "format": "int32"}),
            json!(0xffff_0000u64)
        )
        .is_empty()
    );
    assert!(field_causes(json!({"type": "string", "format": "color"}), json!("blue")).is_empty());
}

#[test]
fn the_type_check_has_kube_openapis_format_quirks() {
    let cidr = json!({"type": "string", "format": "cidr"});
    assert_field_causes(
        &cidr,
        &[
            (json!(10), Some(&type_cause("cidr", "int64"))),
            (json!(1.5), Some(&type_cause("cidr", "double"))),
            (json!(true), Some(&type_cause("cidr", ""))),
            // A list under a string format passes the type check.
            (json!(["10.0.0.0/8"]), None),
        ],
    );
    // And a string under a list with a format (IPReservation's reservedCIDRs) is checked
    // against the format only.
    let list = json!({"type": "array", "format": "cidr", "items": {"type": "string"}});
    assert_field_causes(
        &list,
        &[(json!(["10.0.0.0/8"]), None), (json!("10.0.0.0/8"), None)],
    );
    assert_eq!(field_causes(list, json!("x")).len(), 1);
}

#[test]
fn numeric_bounds_are_checked() {
    let port = json!({"type": "integer", "minimum": 1, "maximum": 65535});
    assert_field_causes(
        &port,
        &[
            (json!(1), None),
            (json!(65535), None),
            (
                json!(0),
                Some(
                    "spec.x: Invalid value: 0: spec.x in body should be greater than or equal to 1",
                ),
            ),
            (
                json!(70000),
                Some(
                    "spec.x: Invalid value: 70000: spec.x in body should be less than or equal to 65535",
                ),
            ),
        ],
    );
    let open = json!({"type": "number", "minimum": 0, "exclusiveMinimum": true,
        "maximum": 1.5, "exclusiveMaximum": true});
    assert_field_causes(
        &open,
        &[
            (json!(0.5), None),
            (
                json!(0),
                Some("spec.x: Invalid value: 0: spec.x in body should be greater than 0"),
            ),
            (
                json!(1.5),
                Some("spec.x: Invalid value: 1.5: spec.x in body should be less than 1.5"),
            ),
        ],
    );
    let multiple = json!({"type": "number", "multipleOf": 5});
    assert_field_causes(
        &multiple,
        &[
            (json!(15), None),
            (
                json!(7),
                Some("spec.x: Invalid value: 7: spec.x in body should be a multiple of 5"),
            ),
            (
                json!(7.5),
                Some("spec.x: Invalid value: 7.5: spec.x in body should be a multiple of 5"),
            ),
        ],
    );
    assert_field_causes(
        &json!({"type": "number", "maximum": 1000000}),
        &[(
            json!(1e7),
            Some(
                "spec.x: Invalid value: 1e+07: spec.x in body should be less than or equal to 1e+06",
            ),
        )],
    );
}

#[test]
fn string_lengths_count_characters() {
    let field = json!({"type": "string", "minLength": 2, "maxLength": 4, "pattern": "^a"});
    assert_field_causes(
        &field,
        &[
            (json!("aéé"), None),
            // Length first, pattern not reported.
            (
                json!("abcde"),
                Some("spec.x: Too long: may not be longer than 4"),
            ),
            (
                json!("a"),
                Some(
                    "spec.x: Invalid value: \"a\": spec.x in body should be at least 2 chars long",
                ),
            ),
        ],
    );
}

#[test]
fn item_and_property_counts_are_checked() {
    let list = json!({"type": "array", "minItems": 1, "maxItems": 2, "items": {"type": "string"}});
    assert_field_causes(
        &list,
        &[
            (json!(["a"]), None),
            (
                json!([]),
                Some("spec.x: Invalid value: 0: spec.x in body should have at least 1 items"),
            ),
            (
                json!(["a", "b", "c"]),
                Some("spec.x: Too many: 3: must have at most 2 items"),
            ),
        ],
    );
    let map = json!({"type": "object", "minProperties": 1, "maxProperties": 2,
        "additionalProperties": {"type": "integer"}});
    assert_field_causes(
        &map,
        &[
            (json!({"a": 1}), None),
            (
                json!({}),
                Some("spec.x: Invalid value: 1: spec.x in body should have at least 1 properties"),
            ),
            // A count failure ends the object's validation, as on the server.
            (
                json!({"a": "1", "b": 2, "c": 3}),
                Some("spec.x: Too many: 3: must have at most 2 items"),
            ),
        ],
    );
}

#[test]
fn items_properties_and_additional_properties_are_walked_with_paths() {
    let field = json!({"type": "array", "items": {"type": "object", "properties": {
        "port": {"type": "integer"},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}}}}});
    assert_eq!(
        field_causes(
            field,
            json!([{"port": 1}, {"port": "2", "labels": {"a": "b", "c/d": 3}}])
        ),
        [
            "spec.x[1].port: Invalid value: \"string\": spec.x[1].port in body must be of type integer: \"string\"",
            "spec.x[1].labels.c/d: Invalid value: \"integer\": spec.x[1].labels.c/d in body must be of type string: \"integer\"",
        ]
    );
    // additionalProperties: false forbids what properties do not name (when not pruned).
    let closed = json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true,
        "additionalProperties": false, "properties": {"a": {"type": "string"}}});
    assert_eq!(
        field_causes(closed, json!({"a": "x", "b": 1})),
        ["spec.x: Invalid value: \"b\": spec.x.b in body is a forbidden property"]
    );
    let open = json!({"type": "object", "additionalProperties": true});
    assert!(field_causes(open, json!({"anything": [1]})).is_empty());
}

#[test]
fn value_validations_any_all_one_of_and_not() {
    let all_of = json!({"type": "string", "allOf": [{"enum": ["Allow", "Deny", "Pass"]}, {"enum": ["Pass", "Deny"]}]});
    assert!(field_causes(all_of.clone(), json!("Deny")).is_empty());
    assert_eq!(
        field_causes(all_of.clone(), json!("Allow")),
        [
            "spec.x: Unsupported value: \"Allow\": supported values: \"Pass\", \"Deny\"",
            "<nil>: Invalid value: \"\": \"spec.x\" must validate all the schemas (allOf)",
        ]
    );
    assert_eq!(field_causes(all_of, json!("Log")).len(), 3);
    let one_of = json!({"type": "integer", "oneOf": [{"minimum": 10}, {"maximum": 20}]});
    assert!(field_causes(one_of.clone(), json!(5)).is_empty());
    assert_eq!(
        field_causes(one_of, json!(15)),
        [
            "<nil>: Invalid value: \"\": \"spec.x\" must validate one and only one schema (oneOf). Found 2 valid alternatives"
        ]
    );
    let any_of = json!({"type": "string", "anyOf": [{"pattern": "^a"}, {"pattern": "^b"}]});
    assert!(field_causes(any_of.clone(), json!("bee")).is_empty());
    assert_eq!(field_causes(any_of, json!("cat")).len(), 2);
    let not = json!({"type": "string", "not": {"enum": ["forbidden"]}});
    assert!(field_causes(not.clone(), json!("fine")).is_empty());
    assert_eq!(
        field_causes(not, json!("forbidden")),
        ["<nil>: Invalid value: \"\": \"spec.x\" must not validate the schema (not)"]
    );
}

#[test]
fn validation_sees_the_object_as_the_server_stores_it() {
    let schema = spec_schema(json!({"type": "object", "required": ["mode"],
        "properties": {"mode": {"type": "string", "enum": ["A", "B"], "default": "A"}}}));
    // Unknown fields are pruned, not rejected; the default fills the required field.
    assert!(schema.causes(&json!({"spec": {"unknown": 1}})).is_empty());
    assert!(
        schema
            .validate(&json!({"metadata": {"name": "x", "anything": [1]}}))
            .is_empty()
    );
}

#[test]
fn values_print_as_go_prints_them() {
    assert_eq!(
        go_quote("a\"b\\c\n\u{1}é\u{200b}"),
        r#""a\"b\\c\n\x01é\u200b""#
    );
    assert_eq!(bad_value(&json!(null)), "\"null\"");
    assert_eq!(bad_value(&json!(1.5)), "1.5");
    assert_eq!(bad_value(&json!(-3)), "-3");
    assert_eq!(
        bad_value(&json!({"b": [1, "x", null], "a": true})),
        r#"map[string]interface {}{"a":true, "b":[]interface {}{1, "x", interface {}(nil)}}"#
    );
    let error = field_causes(json!({"type": "string"}), json!({"k": 1}));
    assert_eq!(error, [type_cause("string", "object")]);
    assert_eq!(
        FieldError::required("spec.a").to_string(),
        "spec.a: Required value"
    );
}

#[test]
fn list_type_sets_and_maps_reject_duplicates() {
    let set =
        json!({"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"});
    assert!(field_causes(set.clone(), json!(["a", "b"])).is_empty());
    assert_eq!(
        field_causes(set, json!(["a", "b", "a", "a", "b"])),
        [
            "spec.x[2]: Duplicate value: \"a\"",
            "spec.x[4]: Duplicate value: \"b\""
        ]
    );
    let map = json!({"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
        "items": {"type": "object", "properties": {"name": {"type": "string"}, "v": {"type": "integer"}}}});
    assert!(
        field_causes(
            map.clone(),
            json!([{"name": "a", "v": 1}, {"name": "b", "v": 1}])
        )
        .is_empty()
    );
    assert_eq!(
        field_causes(map, json!([{"name": "a", "v": 1}, {"name": "a", "v": 2}])),
        ["spec.x[1]: Duplicate value: map[string]interface {}{\"name\":\"a\"}"]
    );
}
