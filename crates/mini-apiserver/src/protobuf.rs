//! Decoding of the Kubernetes protobuf encoding (`application/vnd.kubernetes.protobuf`)
//! for the request bodies kubectl's imperative commands send (`kubectl create
//! namespace|configmap|secret`, `kubectl auth can-i`). Only Namespace, ConfigMap,
//! Secret and SelfSubjectAccessReview are understood; the result is the JSON form of
//! the object.

use base64::Engine;
use serde_json::{Map, Value, json};

const MAGIC: &[u8] = b"k8s\0";

/// One field of a message.
enum Field<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64, String> {
        let mut v: u64 = 0;
        for i in 0..10 {
            let Some((&b, rest)) = self.buf.split_first() else {
                return Err("unexpected end of protobuf data".into());
            };
            self.buf = rest;
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("protobuf varint is too long".into())
    }

    fn next(&mut self) -> Result<Option<(u64, Field<'a>)>, String> {
        if self.buf.is_empty() {
            return Ok(None);
        }
        let key = self.varint()?;
        let (num, wire) = (key >> 3, key & 7);
        let f = match wire {
            0 => Field::Varint(self.varint()?),
            1 | 5 => {
                let n = if wire == 1 { 8 } else { 4 };
                if self.buf.len() < n {
                    return Err("unexpected end of protobuf data".into());
                }
                self.buf = &self.buf[n..];
                Field::Fixed
            }
            2 => {
                let len = usize::try_from(self.varint()?).map_err(|_| "length overflow")?;
                if self.buf.len() < len {
                    return Err("unexpected end of protobuf data".into());
                }
                let (b, rest) = self.buf.split_at(len);
                self.buf = rest;
                Field::Bytes(b)
            }
            w => return Err(format!("unsupported protobuf wire type {w}")),
        };
        Ok(Some((num, f)))
    }
}

fn fields(buf: &[u8]) -> Result<Vec<(u64, Field<'_>)>, String> {
    let mut r = Reader { buf };
    let mut out = Vec::new();
    while let Some(f) = r.next()? {
        out.push(f);
    }
    Ok(out)
}

fn string(b: &[u8]) -> Result<String, String> {
    String::from_utf8(b.to_vec()).map_err(|_| "invalid UTF-8 in protobuf string".to_string())
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// A map entry (key = 1, value = 2).
fn entry(b: &[u8], bytes_value: bool) -> Result<(String, String), String> {
    let mut k = String::new();
    let mut v = String::new();
    for (n, f) in fields(b)? {
        match (n, f) {
            (1, Field::Bytes(x)) => k = string(x)?,
            (2, Field::Bytes(x)) => v = if bytes_value { b64(x) } else { string(x)? },
            _ => {}
        }
    }
    Ok((k, v))
}

fn object_meta(b: &[u8]) -> Result<Value, String> {
    let mut m = Map::new();
    let mut labels = Map::new();
    let mut annotations = Map::new();
    let mut finalizers = Vec::new();
    for (n, f) in fields(b)? {
        match (n, f) {
            (1, Field::Bytes(x)) => {
                m.insert("name".into(), json!(string(x)?));
            }
            (2, Field::Bytes(x)) => {
                m.insert("generateName".into(), json!(string(x)?));
            }
            (3, Field::Bytes(x)) => {
                m.insert("namespace".into(), json!(string(x)?));
            }
            (5, Field::Bytes(x)) => {
                m.insert("uid".into(), json!(string(x)?));
            }
            (6, Field::Bytes(x)) => {
                m.insert("resourceVersion".into(), json!(string(x)?));
            }
            (11, Field::Bytes(x)) => {
                let (k, v) = entry(x, false)?;
                labels.insert(k, json!(v));
            }
            (12, Field::Bytes(x)) => {
                let (k, v) = entry(x, false)?;
                annotations.insert(k, json!(v));
            }
            (14, Field::Bytes(x)) => finalizers.push(json!(string(x)?)),
            _ => {}
        }
    }
    if !labels.is_empty() {
        m.insert("labels".into(), Value::Object(labels));
    }
    if !annotations.is_empty() {
        m.insert("annotations".into(), Value::Object(annotations));
    }
    if !finalizers.is_empty() {
        m.insert("finalizers".into(), Value::Array(finalizers));
    }
    Ok(Value::Object(m))
}

fn kind_body(kind: &str, b: &[u8]) -> Result<Map<String, Value>, String> {
    let mut out = Map::new();
    let mut maps: [Map<String, Value>; 3] = Default::default();
    for (n, f) in fields(b)? {
        match (kind, n, f) {
            (_, 1, Field::Bytes(x)) => {
                out.insert("metadata".into(), object_meta(x)?);
            }
            ("Namespace", 2, Field::Bytes(x)) => {
                let fins: Vec<Value> = fields(x)?
                    .into_iter()
                    .filter_map(|(n, f)| match (n, f) {
                        (1, Field::Bytes(s)) => Some(string(s).map(Value::String)),
                        _ => None,
                    })
                    .collect::<Result<_, _>>()?;
                out.insert("spec".into(), json!({"finalizers": fins}));
            }
            ("ConfigMap", 2, Field::Bytes(x)) | ("Secret", 4, Field::Bytes(x)) => {
                let (k, v) = entry(x, false)?;
                maps[0].insert(k, json!(v));
            }
            ("ConfigMap", 3, Field::Bytes(x)) | ("Secret", 2, Field::Bytes(x)) => {
                let (k, v) = entry(x, true)?;
                maps[1].insert(k, json!(v));
            }
            ("ConfigMap", 4, Field::Varint(v)) | ("Secret", 5, Field::Varint(v)) => {
                out.insert("immutable".into(), json!(v != 0));
            }
            ("Secret", 3, Field::Bytes(x)) => {
                out.insert("type".into(), json!(string(x)?));
            }
            _ => {}
        }
    }
    let [strings, binary, _] = maps;
    match kind {
        "ConfigMap" => {
            if !strings.is_empty() {
                out.insert("data".into(), Value::Object(strings));
            }
            if !binary.is_empty() {
                out.insert("binaryData".into(), Value::Object(binary));
            }
        }
        _ => {
            if !binary.is_empty() {
                out.insert("data".into(), Value::Object(binary));
            }
            if !strings.is_empty() {
                out.insert("stringData".into(), Value::Object(strings));
            }
        }
    }
    Ok(out)
}

/// A message of string fields, numbered in the order of `names`.
fn strings_message(b: &[u8], names: &[&str]) -> Result<Value, String> {
    let mut m = Map::new();
    for (n, f) in fields(b)? {
        if let (Some(name), Field::Bytes(x)) = (names.get((n as usize).wrapping_sub(1)), f) {
            m.insert(name.to_string(), json!(string(x)?));
        }
    }
    Ok(Value::Object(m))
}

/// The spec of a SelfSubjectAccessReview.
fn review_spec(b: &[u8]) -> Result<Value, String> {
    let mut spec = Map::new();
    for (n, f) in fields(b)? {
        match (n, f) {
            (1, Field::Bytes(x)) => {
                let names = [
                    "namespace",
                    "verb",
                    "group",
                    "version",
                    "resource",
                    "subresource",
                    "name",
                ];
                spec.insert("resourceAttributes".into(), strings_message(x, &names)?);
            }
            (2, Field::Bytes(x)) => {
                spec.insert(
                    "nonResourceAttributes".into(),
                    strings_message(x, &["path", "verb"])?,
                );
            }
            _ => {}
        }
    }
    Ok(Value::Object(spec))
}

/// Decodes a protobuf request body into the JSON object it stands for.
pub(crate) fn decode(body: &[u8]) -> Result<Value, String> {
    let Some(rest) = body.strip_prefix(MAGIC) else {
        return Err("provided data does not appear to be a protobuf message, expected prefix [107 56 115 0]".into());
    };
    let mut api_version = String::new();
    let mut kind = String::new();
    let mut raw: &[u8] = &[];
    for (n, f) in fields(rest)? {
        match (n, f) {
            (1, Field::Bytes(tm)) => {
                for (tn, tf) in fields(tm)? {
                    match (tn, tf) {
                        (1, Field::Bytes(x)) => api_version = string(x)?,
                        (2, Field::Bytes(x)) => kind = string(x)?,
                        _ => {}
                    }
                }
            }
            (2, Field::Bytes(x)) => raw = x,
            _ => {}
        }
    }
    let mut obj = Map::new();
    obj.insert("kind".into(), json!(kind));
    obj.insert("apiVersion".into(), json!(api_version));
    match (api_version.as_str(), kind.as_str()) {
        ("v1", "Namespace" | "ConfigMap" | "Secret") => obj.extend(kind_body(&kind, raw)?),
        ("authorization.k8s.io/v1", "SelfSubjectAccessReview") => {
            for (n, f) in fields(raw)? {
                if let (2, Field::Bytes(x)) = (n, f) {
                    obj.insert("spec".into(), review_spec(x)?);
                }
            }
        }
        _ => {
            return Err(format!(
                "the protobuf encoding of {api_version}, Kind={kind} is not supported by this server; send JSON"
            ));
        }
    }
    Ok(Value::Object(obj))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(n: u64, b: &[u8]) -> Vec<u8> {
        let mut out = vec![((n << 3) | 2) as u8, b.len() as u8];
        out.extend_from_slice(b);
        out
    }

    #[test]
    fn configmap_roundtrip() {
        let meta = [
            field(1, b"cm"),
            field(3, b"ns"),
            field(11, &[field(1, b"a"), field(2, b"b")].concat()),
        ]
        .concat();
        let cm = [
            field(1, &meta),
            field(2, &[field(1, b"k"), field(2, b"v")].concat()),
        ]
        .concat();
        let tm = [field(1, b"v1"), field(2, b"ConfigMap")].concat();
        let body = [MAGIC.to_vec(), field(1, &tm), field(2, &cm)].concat();
        let v = decode(&body).unwrap();
        assert_eq!(
            v,
            json!({"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"cm","namespace":"ns","labels":{"a":"b"}},"data":{"k":"v"}})
        );
        assert!(decode(b"nope").is_err());
        let attrs = [field(2, b"patch"), field(5, b"nodes")].concat();
        let ssar = field(2, &field(1, &attrs));
        let tm = [
            field(1, b"authorization.k8s.io/v1"),
            field(2, b"SelfSubjectAccessReview"),
        ]
        .concat();
        let body = [MAGIC.to_vec(), field(1, &tm), field(2, &ssar)].concat();
        assert_eq!(
            decode(&body).unwrap()["spec"],
            json!({"resourceAttributes": {"verb": "patch", "resource": "nodes"}})
        );
        assert!(decode(&[MAGIC, &[0x0a, 0x05]].concat()).is_err());
    }
}
