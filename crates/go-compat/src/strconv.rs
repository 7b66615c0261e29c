//! Go's `strconv` and `fmt` renderings of the values kube-apiserver puts in its messages:
//! `%q` quoting ([`go_quote`]), `%v` of the `int64` or `float64` a JSON number decodes to
//! ([`go_number`], [`go_float`]) and `%#v` of a decoded JSON value ([`go_syntax`]).

use serde_json::Value;

use crate::json::format_float_g;

/// Go's `strconv.Quote`.
pub fn go_quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if go_printable(c) => out.push(c),
            c if (c as u32) < 0x80 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if (c as u32) < 0x1_0000 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push('"');
    out
}

/// Close to Go's `unicode.IsPrint`: no controls, no spaces but U+0020, no format characters,
/// no private use.
fn go_printable(c: char) -> bool {
    let code = c as u32;
    !(c.is_control()
        || (c.is_whitespace() && c != ' ')
        || matches!(code, 0xad | 0x600..=0x605 | 0x61c | 0x6dd | 0x70f | 0x180e | 0x200b..=0x200f
            | 0x202a..=0x202e | 0x2060..=0x206f | 0xfeff | 0xfff9..=0xfffb | 0xe000..=0xf8ff
            | 0xf_0000..)
        || (0xfdd0..=0xfdef).contains(&code)
        || (code & 0xfffe) == 0xfffe)
}

/// A JSON number as Go's `%v` prints the `int64` or `float64` it decodes to.
pub fn go_number(n: &serde_json::Number) -> String {
    match n.as_i64() {
        Some(i) => i.to_string(),
        None => format_float_g(n.as_f64().unwrap_or(0.0)),
    }
}

/// Go's `%v` of a `float64` (`strconv.FormatFloat(f, 'g', -1, 64)`): `128`, `1.5`, `1e+21`,
/// `1e-07`.
pub fn go_float(f: f64) -> String {
    format_float_g(f)
}

/// A decoded JSON value as Go's `%#v` prints it inside an `interface{}`.
pub fn go_syntax(value: &Value) -> String {
    match value {
        Value::Null => "interface {}(nil)".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => go_number(n),
        Value::String(s) => go_quote(s),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(go_syntax).collect();
            format!("[]interface {{}}{{{}}}", items.join(", "))
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            let entries: Vec<String> = entries
                .iter()
                .map(|(k, v)| format!("{}:{}", go_quote(k), go_syntax(v)))
                .collect();
            format!("map[string]interface {{}}{{{}}}", entries.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strings_quote_as_go_quotes_them() {
        assert_eq!(go_quote("a\r\nb\""), "\"a\\r\\nb\\\"\"");
        assert_eq!(
            go_quote("a\"b\\c\n\u{1}é\u{200b}"),
            r#""a\"b\\c\n\x01é\u200b""#
        );
        assert_eq!(go_quote("\u{7}\u{8}\u{b}\u{c}\u{7f}"), r#""\a\b\v\f\x7f""#);
        assert_eq!(go_quote("\u{e000}\u{10ffff}"), r#""\ue000\U0010ffff""#);
    }

    #[test]
    fn numbers_print_as_go_prints_them() {
        assert_eq!(go_float(128.0), "128");
        assert_eq!(go_float(1.5), "1.5");
        assert_eq!(go_float(1e21), "1e+21");
        assert_eq!(go_float(1e-7), "1e-07");
        assert_eq!(go_number(&serde_json::Number::from(-3)), "-3");
        let big: Value = serde_json::from_str("18446744073709551615").unwrap();
        assert_eq!(
            go_number(big.as_number().unwrap()),
            "1.8446744073709552e+19"
        );
    }

    #[test]
    fn values_print_as_go_syntax() {
        assert_eq!(go_syntax(&json!(null)), "interface {}(nil)");
        assert_eq!(go_syntax(&json!(1.5)), "1.5");
        assert_eq!(
            go_syntax(&json!({"b": [1, "x", null], "a": true})),
            r#"map[string]interface {}{"a":true, "b":[]interface {}{1, "x", interface {}(nil)}}"#
        );
    }
}
