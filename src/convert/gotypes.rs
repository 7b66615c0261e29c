//! Calico's `projectcalico.org/v3` Go types, release by release, and what Go's encoding/json
//! makes of a JSON object read into them and written back out.
//!
//! calicoctl never copies a stored object as it is: its export reads each etcd value into the
//! Go struct of its own release and marshals that again, and its import reads the file into the
//! same structs before it writes them. So fields the release does not know vanish, `omitempty`
//! fields holding a zero value vanish, fields without `omitempty` appear with their zero value,
//! and values are written in their canonical form (`300s` becomes `5m0s`, the port `"80"`
//! becomes `80`, an AS number `"1.10"` becomes `65546`). [`reencode`] does the same from the
//! table in `versions/types.txt`, which `scripts/calico-types` derives from Calico's type
//! declarations at every release tag; [`reencode_struct`] does it for one struct, such as the
//! IPAM values (`model.AllocationBlock`...).

use std::collections::HashMap;
use std::sync::OnceLock;

use serde_json::{Map, Number, Value};

use super::version::CalicoVersion;
use go_compat::time::format_go_duration;
use go_compat::time::parse_go_duration;

const TABLE: &str = include_str!("../../versions/types.txt");

/// The type of a field, as the table names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ty {
    String,
    Bool,
    Int,
    Uint,
    Float,
    /// metav1.Duration: a Go duration string.
    Duration,
    /// metav1.Time: RFC 3339, `null` when zero.
    Time,
    /// numorstring.Port: a number, a `min:max` range or a name.
    Port,
    /// numorstring.Protocol, DSCP and Uint8OrString: a number up to 255 or a string.
    Uint8OrString,
    /// numorstring.ASNumber: a number, read from a number, a decimal string or asdot.
    AsNumber,
    /// Another package's type: kept as it is.
    Raw,
    /// Another package's struct: kept as it is, `{}` when zero.
    RawObject,
    Struct(String),
    Ptr(Box<Ty>),
    Slice(Box<Ty>),
    /// A map with string keys.
    Map(Box<Ty>),
}

impl Ty {
    fn parse(text: &str) -> Option<Ty> {
        if let Some(inner) = text.strip_prefix('*') {
            return Some(Ty::Ptr(Box::new(Ty::parse(inner)?)));
        }
        if let Some(inner) = text.strip_prefix("[]") {
            return Some(Ty::Slice(Box::new(Ty::parse(inner)?)));
        }
        if let Some(inner) = text.strip_prefix("map[").and_then(|t| t.strip_suffix(']')) {
            return Some(Ty::Map(Box::new(Ty::parse(inner)?)));
        }
        Some(match text {
            "string" => Ty::String,
            "bool" => Ty::Bool,
            "int" => Ty::Int,
            "uint" => Ty::Uint,
            "float" => Ty::Float,
            "duration" => Ty::Duration,
            "time" => Ty::Time,
            "port" => Ty::Port,
            "protocol" | "dscp" | "uint8orstring" => Ty::Uint8OrString,
            "asnumber" => Ty::AsNumber,
            "raw" => Ty::Raw,
            "rawobject" => Ty::RawObject,
            name if name.chars().next()?.is_ascii_uppercase() || name.starts_with("model.") => {
                Ty::Struct(name.to_string())
            }
            _ => return None,
        })
    }
}

/// One field of a struct.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    pub ty: Ty,
    pub omitempty: bool,
}

/// A field as the table lists it: the releases (indices into the tags) that have it in this form.
#[derive(Debug)]
struct Row {
    field: Field,
    releases: Vec<(usize, usize)>,
}

/// The whole table: every release's types.
#[derive(Debug)]
pub struct TypeTable {
    tags: Vec<CalicoVersion>,
    kinds: HashMap<String, Vec<(usize, usize)>>,
    structs: HashMap<String, Vec<Row>>,
}

/// Whether a release (its index among the tags) is in a list of index ranges.
pub fn in_ranges(ranges: &[(usize, usize)], index: usize) -> bool {
    ranges.iter().any(|(a, b)| (*a..=*b).contains(&index))
}

/// `v3.26.0..v3.28.5,v3.30.0` as index ranges into `tags`; None when a tag is not among them.
/// (The notation of the version tables: `versions/types.txt`, `crds/index.txt`.)
pub fn parse_tag_ranges(tags: &[CalicoVersion], text: &str) -> Option<Vec<(usize, usize)>> {
    let index = |tag: &str| {
        let version = CalicoVersion::parse(tag)?;
        tags.iter().position(|t| *t == version)
    };
    text.split(',')
        .map(|part| match part.split_once("..") {
            Some((a, b)) => Some((index(a)?, index(b)?)),
            None => index(part).map(|i| (i, i)),
        })
        .collect()
}

impl TypeTable {
    /// The table shipped with the tool.
    pub fn get() -> &'static TypeTable {
        static TABLE_CELL: OnceLock<TypeTable> = OnceLock::new();
        TABLE_CELL.get_or_init(|| TypeTable::parse(TABLE).expect("versions/types.txt parses"))
    }

    pub fn parse(text: &str) -> Result<TypeTable, String> {
        let mut table = TypeTable {
            tags: Vec::new(),
            kinds: HashMap::new(),
            structs: HashMap::new(),
        };
        let mut current: Option<String> = None;
        for (number, line) in text.lines().enumerate() {
            let fail = |what: &str| format!("line {}: {what}: {line}", number + 1);
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let words: Vec<&str> = line.split_whitespace().collect();
            if line.starts_with("  ") {
                let [name, ty, flags, releases] = words[..] else {
                    return Err(fail("a field line has four words"));
                };
                let structure = current
                    .as_ref()
                    .ok_or_else(|| fail("a field outside a struct"))?;
                let row = Row {
                    field: Field {
                        name: name.to_string(),
                        ty: Ty::parse(ty).ok_or_else(|| fail("unknown type"))?,
                        omitempty: flags.split(',').any(|f| f == "omitempty"),
                    },
                    releases: table
                        .ranges(releases)
                        .ok_or_else(|| fail("unknown release"))?,
                };
                table
                    .structs
                    .entry(structure.clone())
                    .or_default()
                    .push(row);
                continue;
            }
            match words[..] {
                ["tags", ref tags @ ..] => {
                    table.tags = tags
                        .iter()
                        .map(|t| CalicoVersion::parse(t).ok_or_else(|| fail("not a version")))
                        .collect::<Result<_, _>>()?;
                }
                ["kind", kind, releases] => {
                    let ranges = table
                        .ranges(releases)
                        .ok_or_else(|| fail("unknown release"))?;
                    table.kinds.insert(kind.to_string(), ranges);
                }
                ["struct", name] => {
                    table.structs.entry(name.to_string()).or_default();
                    current = Some(name.to_string());
                }
                _ => return Err(fail("not a table line")),
            }
        }
        if table.tags.is_empty() {
            return Err("no tags line".into());
        }
        Ok(table)
    }

    fn ranges(&self, text: &str) -> Option<Vec<(usize, usize)>> {
        parse_tag_ranges(&self.tags, text)
    }

    /// The release tags the table was read from, oldest first.
    pub fn tags(&self) -> &[CalicoVersion] {
        &self.tags
    }

    /// The types of the release tagged `tags()[index]`.
    pub fn at(&self, index: usize) -> Types<'_> {
        Types {
            table: self,
            index: index.min(self.tags.len() - 1),
        }
    }
}

/// The types of one release.
#[derive(Clone, Copy, Debug)]
pub struct Types<'t> {
    table: &'t TypeTable,
    index: usize,
}

impl<'t> Types<'t> {
    /// The release tag the types are those of.
    pub fn tag(&self) -> CalicoVersion {
        self.table.tags[self.index]
    }

    /// Whether the release's API has the kind.
    pub fn has_kind(&self, kind: &str) -> bool {
        self.table
            .kinds
            .get(kind)
            .is_some_and(|r| in_ranges(r, self.index))
    }

    /// The fields of a struct in this release, in Go's order.
    pub fn fields(&self, structure: &str) -> Vec<&'t Field> {
        self.table
            .structs
            .get(structure)
            .into_iter()
            .flatten()
            .filter(|row| in_ranges(&row.releases, self.index))
            .map(|row| &row.field)
            .collect()
    }

    /// The field of a struct that a JSON key sets: an exact match first, then one that differs
    /// only in case, as Go's decoder does.
    fn field(&self, structure: &str, key: &str) -> Option<&'t Field> {
        let fields = self.fields(structure);
        fields
            .iter()
            .find(|f| f.name == key)
            .or_else(|| fields.iter().find(|f| f.name.eq_ignore_ascii_case(key)))
            .copied()
    }
}

/// A value Go cannot read into the release's type: Go fails the whole object.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct TypeError {
    pub path: String,
    pub message: String,
}

/// An object as the release's Go types write it back.
#[derive(Clone, Debug, PartialEq)]
pub struct Reencoded {
    pub value: Value,
    /// Fields the release's types do not have (`spec.assignmentMode`), in document order.
    pub unknown: Vec<String>,
}

/// Reads `object` (a whole v3 object: kind, apiVersion, metadata, spec...) into the Go type
/// of its kind and writes it back. Fields the release does not know are dropped, or kept
/// where they were with `keep_unknown`; either way they are listed. None when the release
/// has no such kind.
pub fn reencode(
    types: Types<'_>,
    object: &Value,
    keep_unknown: bool,
) -> Option<Result<Reencoded, TypeError>> {
    let kind = object.get("kind")?.as_str()?;
    if !types.has_kind(kind) {
        return None;
    }
    let mut codec = Codec {
        types,
        keep_unknown,
        unknown: Vec::new(),
    };
    Some(
        codec
            .convert(&Ty::Struct(kind.to_string()), object, "")
            .map(|value| Reencoded {
                value,
                unknown: codec.unknown,
            }),
    )
}

/// Reads and writes one struct type of the release (`ObjectMeta`, `NodeSpec`...).
pub fn reencode_struct(
    types: Types<'_>,
    structure: &str,
    value: &Value,
    keep_unknown: bool,
) -> Result<Reencoded, TypeError> {
    let mut codec = Codec {
        types,
        keep_unknown,
        unknown: Vec::new(),
    };
    codec
        .convert(&Ty::Struct(structure.to_string()), value, "")
        .map(|value| Reencoded {
            value,
            unknown: codec.unknown,
        })
}

/// What `json.Marshal` writes for the zero value of a type.
pub fn zero(types: Types<'_>, ty: &Ty) -> Value {
    match ty {
        Ty::String => Value::String(String::new()),
        Ty::Bool => Value::Bool(false),
        Ty::Int | Ty::Uint | Ty::Float | Ty::AsNumber | Ty::Port | Ty::Uint8OrString => {
            Value::from(0)
        }
        Ty::Duration => Value::String("0s".into()),
        Ty::Time | Ty::Raw | Ty::Ptr(_) | Ty::Slice(_) | Ty::Map(_) => Value::Null,
        Ty::RawObject => Value::Object(Map::new()),
        Ty::Struct(name) => {
            let mut out = Map::new();
            for field in types.fields(name) {
                let value = zero(types, &field.ty);
                if !(field.omitempty && is_empty(&field.ty, &value)) {
                    out.insert(field.name.clone(), value);
                }
            }
            Value::Object(out)
        }
    }
}

/// Go's `omitempty` test on a written value: false, 0, "", nil pointers, empty slices and maps.
/// Structs are never empty, nor is a pointer to anything.
fn is_empty(ty: &Ty, value: &Value) -> bool {
    match ty {
        Ty::Ptr(_) => value.is_null(),
        Ty::Struct(_) | Ty::RawObject | Ty::Duration | Ty::Time | Ty::Port | Ty::Uint8OrString => {
            false
        }
        _ => match value {
            Value::Null => true,
            Value::Bool(b) => !b,
            Value::Number(n) => n.as_f64() == Some(0.0),
            Value::String(s) => s.is_empty(),
            Value::Array(a) => a.is_empty(),
            Value::Object(m) => m.is_empty(),
        },
    }
}

struct Codec<'t> {
    types: Types<'t>,
    keep_unknown: bool,
    unknown: Vec<String>,
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// What a JSON value is, as an error message says it (`a string`, `an object`...).
pub fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

impl Codec<'_> {
    fn fail(&self, path: &str, expected: &str, found: &Value) -> TypeError {
        TypeError {
            path: if path.is_empty() {
                "(object)".into()
            } else {
                path.to_string()
            },
            message: format!("expected {expected}, found {}", json_type(found)),
        }
    }

    fn convert(&mut self, ty: &Ty, value: &Value, path: &str) -> Result<Value, TypeError> {
        // null leaves a value type at its zero value and sets pointers, slices and maps to nil.
        if value.is_null() {
            return Ok(zero(self.types, ty));
        }
        match ty {
            Ty::Ptr(inner) => self.convert(inner, value, path),
            Ty::Slice(inner) => {
                let Value::Array(items) = value else {
                    return Err(self.fail(path, "a list", value));
                };
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| self.convert(inner, item, &format!("{path}[{i}]")))
                    .collect::<Result<Vec<_>, _>>()
                    .map(Value::Array)
            }
            Ty::Map(inner) => {
                let Value::Object(entries) = value else {
                    return Err(self.fail(path, "a map", value));
                };
                // Go writes map keys sorted.
                let mut keys: Vec<&String> = entries.keys().collect();
                keys.sort();
                let mut out = Map::new();
                for key in keys {
                    let converted = self.convert(inner, &entries[key], &join(path, key))?;
                    out.insert(key.clone(), converted);
                }
                Ok(Value::Object(out))
            }
            Ty::Struct(name) => self.convert_struct(name, value, path),
            Ty::Raw | Ty::RawObject => Ok(value.clone()),
            Ty::String => match value {
                Value::String(_) => Ok(value.clone()),
                _ => Err(self.fail(path, "a string", value)),
            },
            Ty::Bool => match value {
                Value::Bool(_) => Ok(value.clone()),
                _ => Err(self.fail(path, "a boolean", value)),
            },
            Ty::Int => match value {
                Value::Number(n) if n.is_i64() || n.is_u64() => Ok(value.clone()),
                _ => Err(self.fail(path, "an integer", value)),
            },
            Ty::Uint => match value {
                Value::Number(n) if n.is_u64() => Ok(value.clone()),
                _ => Err(self.fail(path, "a non-negative integer", value)),
            },
            Ty::Float => match value.as_f64() {
                Some(f) => Ok(float_value(f)),
                None => Err(self.fail(path, "a number", value)),
            },
            Ty::Duration => match value {
                Value::String(text) => {
                    match parse_go_duration(text).and_then(|ns| i64::try_from(ns).ok()) {
                        Some(ns) => Ok(Value::String(format_go_duration(ns))),
                        None => Err(TypeError {
                            path: path.to_string(),
                            message: format!("{text:?} is not a Go duration"),
                        }),
                    }
                }
                _ => Err(self.fail(path, "a duration string", value)),
            },
            Ty::Time => match value {
                Value::String(text) => match go_time(text) {
                    Some(text) => Ok(Value::String(text)),
                    None => Err(TypeError {
                        path: path.to_string(),
                        message: format!("{text:?} is not an RFC 3339 time"),
                    }),
                },
                _ => Err(self.fail(path, "a time string", value)),
            },
            Ty::Port => port(value).map_err(|message| TypeError {
                path: path.to_string(),
                message,
            }),
            Ty::Uint8OrString => match value {
                Value::String(text) => Ok(match text.parse::<u8>() {
                    Ok(n) if text.bytes().all(|c| c.is_ascii_digit()) => Value::from(n),
                    _ => value.clone(),
                }),
                Value::Number(n) if n.as_u64().is_some_and(|n| n <= 255) => Ok(value.clone()),
                _ => Err(self.fail(path, "a number up to 255 or a string", value)),
            },
            Ty::AsNumber => as_number(value).map(Value::from).ok_or_else(|| TypeError {
                path: path.to_string(),
                message: format!("{value} is not an AS number"),
            }),
        }
    }

    fn convert_struct(
        &mut self,
        name: &str,
        value: &Value,
        path: &str,
    ) -> Result<Value, TypeError> {
        let Value::Object(input) = value else {
            return Err(self.fail(path, "an object", value));
        };
        // Each JSON key sets the field it names (the later of two keys for one field wins);
        // the others are unknown.
        let mut set: HashMap<&str, &Value> = HashMap::new();
        let mut unknown = Map::new();
        for (key, item) in input {
            match self.types.field(name, key) {
                Some(field) => {
                    set.insert(field.name.as_str(), item);
                }
                None => {
                    self.unknown.push(join(path, key));
                    unknown.insert(key.clone(), item.clone());
                }
            }
        }
        let mut out = Map::new();
        for field in self.types.fields(name) {
            let written = match set.get(field.name.as_str()) {
                Some(item) => self.convert(&field.ty, item, &join(path, &field.name))?,
                None => zero(self.types, &field.ty),
            };
            if !(field.omitempty && is_empty(&field.ty, &written)) {
                out.insert(field.name.clone(), written);
            }
        }
        if self.keep_unknown {
            out.extend(unknown);
        }
        Ok(Value::Object(out))
    }
}

/// A float64 as JSON: whole numbers that fit are written as integers (Go prints them the same
/// way, and integers compare equal to what an API server hands back).
pub fn float_value(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 {
        Value::from(f as i64)
    } else {
        Number::from_f64(f)
            .map(Value::Number)
            .unwrap_or(Value::Null)
    }
}

/// numorstring.ASNumber's reading: a uint32, or a string holding one in decimal or asdot.
pub fn as_number(value: &Value) -> Option<u64> {
    let number = match value {
        Value::Number(n) => n.as_u64()?,
        Value::String(s) => match s.parse::<u32>() {
            Ok(n) => u64::from(n),
            Err(_) => {
                let (high, low) = s.split_once('.')?;
                let high: u16 = high.parse().ok()?;
                let low: u16 = low.parse().ok()?;
                (u64::from(high) << 16) + u64::from(low)
            }
        },
        _ => return None,
    };
    (number <= u64::from(u32::MAX)).then_some(number)
}

/// numorstring.Port read and written: `80` and `"80"` are 80, `"80:80"` too, `"80:90"` stays a
/// range, any other string must be a port name.
fn port(value: &Value) -> Result<Value, String> {
    let number = |text: &str| -> Result<u16, String> {
        text.parse::<u16>()
            .map_err(|_| format!("invalid port format ({text})"))
    };
    match value {
        Value::Number(n) => match n.as_u64().and_then(|n| u16::try_from(n).ok()) {
            Some(n) => Ok(Value::from(n)),
            None => Err(format!("{n} is not a port number")),
        },
        Value::String(text) if !text.is_empty() && text.bytes().all(|c| c.is_ascii_digit()) => {
            Ok(Value::from(number(text)?))
        }
        Value::String(text) => {
            if let Some((low, high)) = text.split_once(':')
                && !low.is_empty()
                && !high.is_empty()
                && low.bytes().chain(high.bytes()).all(|c| c.is_ascii_digit())
            {
                let (low, high) = (number(low)?, number(high)?);
                if low > high {
                    return Err(format!(
                        "minimum port number ({low}) is greater than maximum port number ({high}) in port range"
                    ));
                }
                return Ok(if low == high {
                    Value::from(low)
                } else {
                    Value::String(format!("{low}:{high}"))
                });
            }
            let named = !text.is_empty()
                && text.len() <= 128
                && text
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'));
            if named {
                Ok(value.clone())
            } else {
                Err(format!("invalid name for named port ({text})"))
            }
        }
        other => Err(format!("expected a port, found {}", json_type(other))),
    }
}

/// metav1.Time read (RFC 3339, any offset) and written (RFC 3339 in UTC, whole seconds).
fn go_time(text: &str) -> Option<String> {
    let timestamp: jiff::Timestamp = text.parse().ok()?;
    Some(timestamp.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn types(version: &str) -> Types<'static> {
        let table = TypeTable::get();
        let v = CalicoVersion::parse(version).unwrap();
        let index = table.tags().iter().position(|t| *t == v).unwrap();
        table.at(index)
    }

    fn again(version: &str, object: Value) -> Reencoded {
        reencode(types(version), &object, false).unwrap().unwrap()
    }

    #[test]
    fn the_table_covers_every_release_from_3_26_to_3_32() {
        let table = TypeTable::get();
        assert_eq!(table.tags().first().unwrap().to_string(), "v3.26.0");
        assert_eq!(table.tags().last().unwrap().to_string(), "v3.32.1");
        assert!(types("v3.28.0").has_kind("IPPool"));
        assert!(!types("v3.28.0").has_kind("Tier"));
        assert!(types("v3.29.0").has_kind("Tier"));
        assert!(!types("v3.29.7").has_kind("StagedNetworkPolicy"));
        assert!(types("v3.30.0").has_kind("StagedNetworkPolicy"));
    }

    #[test]
    fn unknown_fields_vanish_and_are_listed() {
        // v3.28.0's IPPool has no assignmentMode (v3.30.0) and its policies no tier (v3.29.0).
        let pool = json!({"kind": "IPPool", "apiVersion": "projectcalico.org/v3", "metadata": {"name": "p"},
            "spec": {"cidr": "10.0.0.0/16", "natOutgoing": false, "assignmentMode": "Automatic", "blockSize": 26}});
        let out = again("v3.28.0", pool.clone());
        assert_eq!(
            out.value,
            json!({"kind": "IPPool", "apiVersion": "projectcalico.org/v3",
                   "metadata": {"name": "p", "creationTimestamp": null},
                   "spec": {"cidr": "10.0.0.0/16", "blockSize": 26}})
        );
        assert_eq!(out.unknown, ["spec.assignmentMode"]);
        let newer = again("v3.30.0", pool.clone());
        assert_eq!(newer.value["spec"]["assignmentMode"], "Automatic");
        assert!(newer.unknown.is_empty());
        let kept = reencode(types("v3.28.0"), &pool, true).unwrap().unwrap();
        assert_eq!(kept.value["spec"]["assignmentMode"], "Automatic");
        assert_eq!(kept.unknown, ["spec.assignmentMode"]);
    }

    #[test]
    fn fields_without_omitempty_are_written_with_their_zero_value() {
        // bpfLogLevel has no omitempty in v3.28.0.
        let felix = json!({"kind": "FelixConfiguration", "metadata": {"name": "node.a"},
            "spec": {"logSeverityScreen": "Debug"}});
        let out = again("v3.28.0", felix);
        assert_eq!(out.value["spec"]["bpfLogLevel"], "");
        // A struct without omitempty is always there; a policy rule's source and destination.
        let gnp = json!({"kind": "GlobalNetworkPolicy", "metadata": {"name": "a"},
            "spec": {"ingress": [{"action": "Allow"}], "tier": "default"}});
        let out = again("v3.28.0", gnp);
        assert_eq!(
            out.value["spec"],
            json!({"ingress": [{"action": "Allow", "source": {}, "destination": {}}]})
        );
        assert_eq!(out.unknown, ["spec.tier"]);
    }

    #[test]
    fn values_are_written_in_their_canonical_form() {
        let gnp = json!({"kind": "GlobalNetworkPolicy", "metadata": {"name": "a", "creationTimestamp": "2024-05-01T12:00:00+02:00"},
            "spec": {"order": 100.0, "ingress": [{"action": "Allow", "protocol": "6",
                "destination": {"ports": ["80", "8000:8100", "90:90", "http", 443]}}]}});
        let out = again("v3.30.0", gnp);
        assert_eq!(
            out.value["metadata"]["creationTimestamp"],
            "2024-05-01T10:00:00Z"
        );
        assert_eq!(out.value["spec"]["order"], json!(100));
        let rule = &out.value["spec"]["ingress"][0];
        assert_eq!(rule["protocol"], json!(6));
        assert_eq!(
            rule["destination"]["ports"],
            json!([80, "8000:8100", 90, "http", 443])
        );
        let kcc = json!({"kind": "KubeControllersConfiguration", "metadata": {"name": "default"},
            "spec": {"etcdV3CompactionPeriod": "600s", "controllers": {}}});
        let out = again("v3.28.0", kcc);
        assert_eq!(out.value["spec"]["etcdV3CompactionPeriod"], "10m0s");
        // Up to v3.31 the status holds runningConfig as a struct, always written.
        assert_eq!(
            out.value["status"],
            json!({"runningConfig": {"controllers": {}}})
        );
        let peer =
            json!({"kind": "BGPPeer", "metadata": {"name": "p"}, "spec": {"asNumber": "1.10"}});
        assert_eq!(
            again("v3.28.0", peer).value["spec"]["asNumber"],
            json!(65546)
        );
    }

    #[test]
    fn values_go_cannot_read_fail_the_object() {
        let pool =
            json!({"kind": "IPPool", "metadata": {"name": "p"}, "spec": {"blockSize": "26"}});
        let error = reencode(types("v3.28.0"), &pool, false)
            .unwrap()
            .unwrap_err();
        assert_eq!(error.path, "spec.blockSize");
        assert_eq!(error.message, "expected an integer, found a string");
        let port = json!({"kind": "GlobalNetworkPolicy", "metadata": {"name": "a"},
            "spec": {"ingress": [{"action": "Allow", "destination": {"ports": ["90:80"]}}]}});
        assert!(reencode(types("v3.28.0"), &port, false).unwrap().is_err());
        assert!(reencode(types("v3.28.0"), &json!({"kind": "Tier"}), false).is_none());
    }

    #[test]
    fn keys_match_fields_case_insensitively_as_in_go() {
        let pool =
            json!({"kind": "IPPool", "metadata": {"name": "p"}, "spec": {"CIDR": "10.0.0.0/8"}});
        assert_eq!(again("v3.28.0", pool).value["spec"]["cidr"], "10.0.0.0/8");
    }
}
