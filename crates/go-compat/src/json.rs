//! Byte-exact re-implementation of Go's `encoding/json` output.
//!
//! `marshal` writes what `json.Marshal` writes and `marshal_indent` what
//! `json.MarshalIndent` writes, for data whose JSON form is the given
//! [`serde_json::Value`]. Object keys keep the order of the `Value` (with the
//! `preserve_order` feature the caller arranges Go struct field order; Go
//! sorts `map[string]T` keys, so callers that model a Go map must sort them).
//!
//! Rules reproduced:
//! - strings: HTML-safe escaping (`<`, `>`, `&` as `\u003c`, `\u003e`,
//!   `\u0026`), U+2028/U+2029 as `\u2028`/`\u2029`, `\"`, `\\`, `\n`, `\r`,
//!   `\t`, `\b`, `\f` (Go 1.22 and later; older Go wrote `\u0008`/`\u000c`),
//!   every other byte below 0x20 as `\u00xx` with lower-case hex; `/` and all
//!   other characters are written as they are.
//! - numbers: integers in decimal; floats as Go formats a `float64`: the
//!   shortest digits that read back to the same value (of two equally close
//!   candidates the even one, as Go picks), in `'f'` form when
//!   `1e-6 <= |f| < 1e21` or `f` is zero (`-0` for negative zero), otherwise
//!   in `'e'` form with a two-digit negative exponent shortened (`1e-07` ->
//!   `1e-7`; `1e+21` stays).
//! - `MarshalIndent`: `{}`/`[]` for empty containers, `": "` after keys, every
//!   element on its own line starting with `prefix` and one `indent` per
//!   level; the first line carries no prefix and there is no trailing newline.
//!
//! The module also holds Go's `strconv.FormatFloat(f, 'g', -1, bits)`, which
//! the YAML module needs.

use serde_json::{Map, Number, Value};

/// What Go's `json.Marshal` writes for `v`.
pub fn marshal(v: &Value) -> String {
    let mut out = String::new();
    write_compact(&mut out, v);
    out
}

/// What Go's `json.MarshalIndent(v, prefix, indent)` writes for `v`.
pub fn marshal_indent(v: &Value, prefix: &str, indent: &str) -> String {
    let mut out = String::new();
    write_indented(&mut out, v, prefix, indent, 0);
    out
}

/// Go's `encoding/json` text for a JSON number.
pub fn format_number(n: &Number) -> String {
    if let Some(u) = n.as_u64() {
        u.to_string()
    } else if let Some(i) = n.as_i64() {
        i.to_string()
    } else {
        // Without arbitrary_precision a Number is u64, i64 or a finite f64.
        format_float(n.as_f64().unwrap_or(0.0))
    }
}

/// Go's `encoding/json` text for a finite `float64`.
///
/// Non-finite values cannot occur in a `serde_json::Value`; Go refuses them
/// (`json: unsupported value`), here they come out as `null`.
pub fn format_float(f: f64) -> String {
    if !f.is_finite() {
        return "null".to_string();
    }
    let abs = f.abs();
    let (digits, dp) = shortest_digits(f);
    let neg = f.is_sign_negative();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let mut s = fmt_e(neg, &digits, dp, digits.len().saturating_sub(1));
        // Go: clean up e-09 to e-9.
        let b = s.as_bytes();
        let n = b.len();
        if n >= 4 && b[n - 4] == b'e' && b[n - 3] == b'-' && b[n - 2] == b'0' {
            let last = b[n - 1] as char;
            s.truncate(n - 2);
            s.push(last);
        }
        s
    } else {
        let prec = (digits.len() as i32 - dp).max(0) as usize;
        fmt_f(neg, &digits, dp, prec)
    }
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 64)`.
pub fn format_float_g(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_string();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.to_string();
    }
    let (digits, dp) = shortest_digits(f);
    format_g(f.is_sign_negative(), &digits, dp)
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 32)`: `f` is first rounded to a
/// `float32` and then written with the shortest digits of that `float32`.
pub fn format_float_g32(f: f64) -> String {
    let x = f as f32;
    if x.is_nan() {
        return "NaN".to_string();
    }
    if x.is_infinite() {
        return if x > 0.0 { "+Inf" } else { "-Inf" }.to_string();
    }
    let (digits, dp) = if x == 0.0 {
        (Vec::new(), 0)
    } else {
        let x = x.abs();
        go_shortest(&format!("{x:e}"), |n| {
            let s = format!("{:.*e}", n - 1, x);
            (s.parse::<f32>() == Ok(x)).then_some(s)
        })
    };
    format_g(x.is_sign_negative(), &digits, dp)
}

/// `'g'` with the shortest precision: `%e` when the decimal exponent is below
/// -4 or at least 6 (Go uses 6 for this decision when the precision is the
/// shortest one), `%f` otherwise.
fn format_g(neg: bool, digits: &[u8], dp: i32) -> String {
    let exp = dp - 1;
    if digits.is_empty() || (-4..6).contains(&exp) {
        let prec = (digits.len() as i32 - dp).max(0) as usize;
        fmt_f(neg, digits, dp, prec)
    } else {
        fmt_e(neg, digits, dp, digits.len() - 1)
    }
}

/// Shortest decimal digits (without leading or trailing zeros) and decimal
/// point position of `f`: `|f| = 0.d1d2d3... * 10^dp`. Zero has no digits.
fn shortest_digits(f: f64) -> (Vec<u8>, i32) {
    if f == 0.0 {
        return (Vec::new(), 0);
    }
    let f = f.abs();
    go_shortest(&format!("{f:e}"), |n| {
        let s = format!("{:.*e}", n - 1, f);
        (s.parse::<f64>() == Ok(f)).then_some(s)
    })
}

/// Go's shortest digits from Rust's: both find the shortest length that
/// reads back; when two decimals of that length read back and are equally
/// close, Rust may round up where Go rounds to even. `round(n)` gives the
/// value correctly rounded (half to even) to `n` digits, if that reads back.
fn go_shortest(rust_shortest: &str, round: impl Fn(usize) -> Option<String>) -> (Vec<u8>, i32) {
    let (digits, dp) = split_sci(rust_shortest);
    match round(digits.len()) {
        Some(s) => split_sci(&s),
        None => (digits, dp),
    }
}

fn split_sci(s: &str) -> (Vec<u8>, i32) {
    let (mant, exp) = s.split_once('e').unwrap_or((s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let mut digits: Vec<u8> = mant.bytes().filter(u8::is_ascii_digit).collect();
    while digits.len() > 1 && digits.last() == Some(&b'0') {
        digits.pop();
    }
    (digits, exp + 1)
}

/// Go's `fmtE`: `d.ddde±dd`.
fn fmt_e(neg: bool, digits: &[u8], dp: i32, prec: usize) -> String {
    let mut s = String::new();
    if neg {
        s.push('-');
    }
    s.push(digits.first().map_or('0', |&d| d as char));
    if prec > 0 {
        s.push('.');
        for i in 1..=prec {
            s.push(digits.get(i).map_or('0', |&d| d as char));
        }
    }
    s.push('e');
    let mut exp = if digits.is_empty() { 0 } else { dp - 1 };
    if exp < 0 {
        s.push('-');
        exp = -exp;
    } else {
        s.push('+');
    }
    if exp < 10 {
        s.push('0');
    }
    s.push_str(&exp.to_string());
    s
}

/// Go's `fmtF`: `ddd.ddd` with `prec` fractional digits.
fn fmt_f(neg: bool, digits: &[u8], dp: i32, prec: usize) -> String {
    let mut s = String::new();
    if neg {
        s.push('-');
    }
    if dp > 0 {
        let m = (dp as usize).min(digits.len());
        for &d in &digits[..m] {
            s.push(d as char);
        }
        for _ in m..dp as usize {
            s.push('0');
        }
    } else {
        s.push('0');
    }
    if prec > 0 {
        s.push('.');
        for i in 1..=prec as i64 {
            let j = dp as i64 + i - 1;
            let c = if j >= 0 && (j as usize) < digits.len() {
                digits[j as usize] as char
            } else {
                '0'
            };
            s.push(c);
        }
    }
    s
}

/// Appends `s` as a Go JSON string literal (HTML-safe, as `json.Marshal`).
pub fn write_string(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c if (c as u32) < 0x20 || c == '<' || c == '>' || c == '&' => {
                let b = c as u32 as usize;
                out.push_str("\\u00");
                out.push(HEX[b >> 4] as char);
                out.push(HEX[b & 0xf] as char);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn write_compact(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&format_number(n)),
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_compact(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(out, k);
                out.push(':');
                write_compact(out, item);
            }
            out.push('}');
        }
    }
}

fn newline(out: &mut String, prefix: &str, indent: &str, depth: usize) {
    out.push('\n');
    out.push_str(prefix);
    for _ in 0..depth {
        out.push_str(indent);
    }
}

fn write_indented(out: &mut String, v: &Value, prefix: &str, indent: &str, depth: usize) {
    match v {
        Value::Array(items) if !items.is_empty() => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, prefix, indent, depth + 1);
                write_indented(out, item, prefix, indent, depth + 1);
            }
            newline(out, prefix, indent, depth);
            out.push(']');
        }
        Value::Object(map) if !map.is_empty() => {
            write_indented_object(out, map, prefix, indent, depth)
        }
        other => write_compact(out, other),
    }
}

fn write_indented_object(
    out: &mut String,
    map: &Map<String, Value>,
    prefix: &str,
    indent: &str,
    depth: usize,
) {
    out.push('{');
    for (i, (k, item)) in map.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        newline(out, prefix, indent, depth + 1);
        write_string(out, k);
        out.push_str(": ");
        write_indented(out, item, prefix, indent, depth + 1);
    }
    newline(out, prefix, indent, depth);
    out.push('}');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn compact_keeps_key_order_and_escapes_like_go() {
        let v = json!({"z": "<a href=\"x\">&</a>", "a": [1, -2, 2.5, null, true, false], "m": {}, "l": []});
        assert_eq!(
            marshal(&v),
            r#"{"z":"\u003ca href=\"x\"\u003e\u0026\u003c/a\u003e","a":[1,-2,2.5,null,true,false],"m":{},"l":[]}"#
        );
    }

    #[test]
    fn string_escapes() {
        let cases = [
            ("plain / slash", r#""plain / slash""#),
            ("tab\tnl\ncr\r", r#""tab\tnl\ncr\r""#),
            ("\u{8}\u{c}", r#""\b\f""#),
            ("\u{0}\u{1}\u{1f}", r#""\u0000\u0001\u001f""#),
            ("\u{7f}\u{80}\u{85}\u{a0}", "\"\u{7f}\u{80}\u{85}\u{a0}\""),
            ("\u{2028}\u{2029}", r#""\u2028\u2029""#),
            ("quote\" back\\", r#""quote\" back\\""#),
            ("é日本😀\u{feff}", "\"é日本😀\u{feff}\""),
            ("", r#""""#),
        ];
        for (s, want) in cases {
            assert_eq!(marshal(&json!(s)), want, "for {s:?}");
        }
    }

    #[test]
    fn numbers_like_go() {
        let cases: [(Value, &str); 22] = [
            (json!(0), "0"),
            (json!(u64::MAX), "18446744073709551615"),
            (json!(i64::MIN), "-9223372036854775808"),
            (json!(0.0), "0"),
            (json!(-0.0), "-0"),
            (json!(100.0), "100"),
            (json!(1.5), "1.5"),
            (json!(0.1 + 0.2), "0.30000000000000004"),
            (json!(123.456), "123.456"),
            (json!(1e-6), "0.000001"),
            (json!(9.99999e-7), "9.99999e-7"),
            (json!(1e-7), "1e-7"),
            (json!(1.5e-7), "1.5e-7"),
            (json!(1e-10), "1e-10"),
            (json!(1e20), "100000000000000000000"),
            (json!(999999999999999999999.0), "1e+21"),
            (json!(1e21), "1e+21"),
            (json!(1.2345e100), "1.2345e+100"),
            (json!(1.7976931348623157e308), "1.7976931348623157e+308"),
            (json!(5e-324), "5e-324"),
            (json!(-(2f64.powi(63))), "-9223372036854776000"),
            // Two shortest candidates, equally close: Go rounds to even.
            (json!(-205_862_734_785_765.0 - 0.125), "-205862734785765.12"),
        ];
        for (v, want) in cases {
            assert_eq!(marshal(&v), want, "for {v:?}");
        }
    }

    #[test]
    fn strconv_g_format() {
        assert_eq!(format_float_g(0.0), "0");
        assert_eq!(format_float_g(1e-5), "1e-05");
        assert_eq!(format_float_g(0.0001), "0.0001");
        assert_eq!(format_float_g(123456.0), "123456");
        assert_eq!(format_float_g(1234567.0), "1.234567e+06");
        assert_eq!(format_float_g(1e21), "1e+21");
        assert_eq!(format_float_g(1e100), "1e+100");
        assert_eq!(format_float_g(-2.5e-300), "-2.5e-300");
        assert_eq!(format_float_g(f64::NAN), "NaN");
        assert_eq!(format_float_g(f64::INFINITY), "+Inf");
        assert_eq!(format_float_g(f64::NEG_INFINITY), "-Inf");
        assert_eq!(format_float_g32(0.1), "0.1");
        assert_eq!(format_float_g32(1.0 / 3.0), "0.33333334");
        assert_eq!(format_float_g32(1e39), "+Inf");
        assert_eq!(format_float_g32(16777217.0), "1.6777216e+07");
    }

    #[test]
    fn indent_like_go() {
        let v = json!({
            "kind": "ClusterInformation",
            "metadata": {"name": "default", "labels": {}},
            "spec": {"datastoreReady": false, "list": [], "items": [{}, [1, 2], "x"]}
        });
        let want = "{\n  \"kind\": \"ClusterInformation\",\n  \"metadata\": {\n    \"name\": \"default\",\n    \"labels\": {}\n  },\n  \"spec\": {\n    \"datastoreReady\": false,\n    \"list\": [],\n    \"items\": [\n      {},\n      [\n        1,\n        2\n      ],\n      \"x\"\n    ]\n  }\n}";
        assert_eq!(marshal_indent(&v, "", "  "), want);
        assert_eq!(
            marshal_indent(&json!([1, {"a": "<"}]), "> ", "\t"),
            "[\n> \t1,\n> \t{\n> \t\t\"a\": \"\\u003c\"\n> \t}\n> ]"
        );
        assert_eq!(marshal_indent(&json!({}), "", "  "), "{}");
        assert_eq!(marshal_indent(&json!([]), "", "  "), "[]");
        assert_eq!(marshal_indent(&json!("s"), "", "  "), "\"s\"");
    }

    #[test]
    fn export_example_ipam() {
        let v = json!({
            "block_affinities": [{
                "Key": "/calico/ipam/v2/host/worker-1/ipv4/block/10.65.79.0-26",
                "Value": {"state": "confirmed", "deleted": false},
                "TTL": 0
            }],
            "config": {"Key": "/calico/ipam/v2/config", "Value": {"auto_allocate_blocks": true}, "TTL": 0}
        });
        let want = r#"{
  "block_affinities": [
    {
      "Key": "/calico/ipam/v2/host/worker-1/ipv4/block/10.65.79.0-26",
      "Value": {
        "state": "confirmed",
        "deleted": false
      },
      "TTL": 0
    }
  ],
  "config": {
    "Key": "/calico/ipam/v2/config",
    "Value": {
      "auto_allocate_blocks": true
    },
    "TTL": 0
  }
}"#;
        assert_eq!(marshal_indent(&v, "", "  "), want);
        assert_eq!(
            marshal(&v),
            r#"{"block_affinities":[{"Key":"/calico/ipam/v2/host/worker-1/ipv4/block/10.65.79.0-26","Value":{"state":"confirmed","deleted":false},"TTL":0}],"config":{"Key":"/calico/ipam/v2/config","Value":{"auto_allocate_blocks":true},"TTL":0}}"#
        );
    }

    #[test]
    fn output_is_valid_json_that_reads_back() {
        let v = json!({"a": [0.25, -0.5, 1e21, 12345678901234567890u64, "x\u{2028}<>&\u{1}"], "b": {"c": null}});
        assert_eq!(serde_json::from_str::<Value>(&marshal(&v)).unwrap(), v);
        assert_eq!(
            serde_json::from_str::<Value>(&marshal_indent(&v, "", "  ")).unwrap(),
            v
        );
    }
}
