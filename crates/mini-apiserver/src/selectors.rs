//! Label selectors (`labels.Parse`) and field selectors (`fields.ParseSelector`).

use serde_json::Value;

use crate::validation::{label_value, qualified_name};

#[derive(Debug, Clone, PartialEq)]
enum Op {
    Equals,
    NotEquals,
    In,
    NotIn,
    Exists,
    DoesNotExist,
    Gt,
    Lt,
}

#[derive(Debug, Clone, PartialEq)]
struct Requirement {
    key: String,
    op: Op,
    values: Vec<String>,
}

/// A parsed label selector; empty matches everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct LabelSelector {
    reqs: Vec<Requirement>,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Not,
    Eq,
    DoubleEq,
    NotEq,
    In,
    NotIn,
    Open,
    Close,
    Comma,
    Gt,
    Lt,
    End,
}

impl Tok {
    fn text(&self) -> String {
        match self {
            Tok::Ident(s) => s.clone(),
            Tok::Not => "!".into(),
            Tok::Eq => "=".into(),
            Tok::DoubleEq => "==".into(),
            Tok::NotEq => "!=".into(),
            Tok::In => "in".into(),
            Tok::NotIn => "notin".into(),
            Tok::Open => "(".into(),
            Tok::Close => ")".into(),
            Tok::Comma => ",".into(),
            Tok::Gt => ">".into(),
            Tok::Lt => "<".into(),
            Tok::End => String::new(),
        }
    }
}

fn lex(s: &str) -> Vec<Tok> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let special =
        |c: char| matches!(c, '!' | '=' | '(' | ')' | ',' | '<' | '>') || c.is_whitespace();
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let doubled = chars.get(i + 1) == Some(&'=');
        let punctuation = match c {
            '!' if doubled => Some((Tok::NotEq, 2)),
            '!' => Some((Tok::Not, 1)),
            '=' if doubled => Some((Tok::DoubleEq, 2)),
            '=' => Some((Tok::Eq, 1)),
            '(' => Some((Tok::Open, 1)),
            ')' => Some((Tok::Close, 1)),
            ',' => Some((Tok::Comma, 1)),
            '>' => Some((Tok::Gt, 1)),
            '<' => Some((Tok::Lt, 1)),
            _ => None,
        };
        if let Some((tok, len)) = punctuation {
            out.push(tok);
            i += len;
            continue;
        }
        let start = i;
        while i < chars.len() && !special(chars[i]) {
            i += 1;
        }
        let word: String = chars[start..i].iter().collect();
        out.push(match word.as_str() {
            "in" => Tok::In,
            "notin" => Tok::NotIn,
            _ => Tok::Ident(word),
        });
    }
    out.push(Tok::End);
    out
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> &Tok {
        &self.toks[self.pos.min(self.toks.len() - 1)]
    }
    fn next(&mut self) -> Tok {
        let t = self.peek().clone();
        self.pos += 1;
        t
    }

    fn key(&mut self) -> Result<(String, bool), String> {
        let mut not = false;
        if *self.peek() == Tok::Not {
            self.next();
            not = true;
        }
        match self.next() {
            Tok::Ident(k) => Ok((k, not)),
            t => Err(format!("found '{}', expected: identifier", t.text())),
        }
    }

    fn value_set(&mut self) -> Result<Vec<String>, String> {
        match self.next() {
            Tok::Open => {}
            t => Err(format!("found '{}', expected: '('", t.text()))?,
        }
        let mut vals = Vec::new();
        // empty set or list of identifiers separated by commas
        loop {
            match self.next() {
                Tok::Ident(v) => {
                    vals.push(v);
                    match self.next() {
                        Tok::Comma => continue,
                        Tok::Close => break,
                        t => {
                            return Err(format!("found '{}', expected: ',' or ')'", t.text()));
                        }
                    }
                }
                Tok::Comma => {
                    vals.push(String::new());
                    continue;
                }
                Tok::Close => {
                    if !vals.is_empty() {
                        vals.push(String::new());
                    }
                    break;
                }
                t => {
                    return Err(format!(
                        "found '{}', expected: ',', ')' or identifier",
                        t.text()
                    ));
                }
            }
        }
        Ok(vals)
    }

    fn requirement(&mut self) -> Result<Requirement, String> {
        let (key, not) = self.key()?;
        if not {
            return Ok(Requirement {
                key,
                op: Op::DoesNotExist,
                values: vec![],
            });
        }
        let op = match self.peek() {
            Tok::End | Tok::Comma => {
                return Ok(Requirement {
                    key,
                    op: Op::Exists,
                    values: vec![],
                });
            }
            Tok::Eq | Tok::DoubleEq => Op::Equals,
            Tok::NotEq => Op::NotEquals,
            Tok::In => Op::In,
            Tok::NotIn => Op::NotIn,
            Tok::Gt => Op::Gt,
            Tok::Lt => Op::Lt,
            t => {
                return Err(format!(
                    "found '{}', expected: in, notin, =, ==, !=, gt, lt",
                    t.text()
                ));
            }
        };
        self.next();
        let values = match op {
            Op::In | Op::NotIn => self.value_set()?,
            _ => match self.peek().clone() {
                Tok::Ident(v) => {
                    self.next();
                    vec![v]
                }
                Tok::End | Tok::Comma => vec![String::new()],
                t => return Err(format!("found '{}', expected: identifier", t.text())),
            },
        };
        Ok(Requirement { key, op, values })
    }
}

impl LabelSelector {
    pub(crate) fn parse(s: &str) -> Result<LabelSelector, String> {
        let mut p = Parser {
            toks: lex(s),
            pos: 0,
        };
        let mut reqs = Vec::new();
        if *p.peek() == Tok::End {
            return Ok(LabelSelector { reqs });
        }
        loop {
            let r = p.requirement()?;
            validate_requirement(&r)?;
            reqs.push(r);
            match p.next() {
                Tok::End => break,
                Tok::Comma => {
                    if *p.peek() == Tok::End {
                        return Err("found '', expected: identifier after ','".to_string());
                    }
                }
                t => {
                    return Err(format!(
                        "found '{}', expected: ',' or 'end of string'",
                        t.text()
                    ));
                }
            }
        }
        Ok(LabelSelector { reqs })
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.reqs.is_empty()
    }

    /// Does an object's `metadata.labels` match?
    pub(crate) fn matches(&self, labels: Option<&Value>) -> bool {
        let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
        self.reqs.iter().all(|r| {
            let v = get(&r.key);
            match r.op {
                Op::Equals => v == Some(r.values[0].as_str()),
                Op::NotEquals => v != Some(r.values[0].as_str()),
                Op::In => v.is_some_and(|v| r.values.iter().any(|x| x == v)),
                Op::NotIn => v.is_none_or(|v| !r.values.iter().any(|x| x == v)),
                Op::Exists => v.is_some(),
                Op::DoesNotExist => v.is_none(),
                Op::Gt | Op::Lt => {
                    let (Some(v), Ok(bound)) = (
                        v.and_then(|v| v.parse::<i64>().ok()),
                        r.values[0].parse::<i64>(),
                    ) else {
                        return false;
                    };
                    if r.op == Op::Gt { v > bound } else { v < bound }
                }
            }
        })
    }
}

fn validate_requirement(r: &Requirement) -> Result<(), String> {
    if let Some(m) = qualified_name(&r.key).into_iter().next() {
        return Err(format!(
            "unable to parse requirement: key: Invalid value: {:?}: {m}",
            r.key
        ));
    }
    match r.op {
        Op::In | Op::NotIn if r.values.is_empty() => {
            return Err(
                "unable to parse requirement: values: Required value: for 'in', 'notin' operators, values set can't be empty"
                    .to_string(),
            );
        }
        Op::Gt | Op::Lt => {
            if r.values[0].parse::<i64>().is_err() {
                return Err(format!(
                    "unable to parse requirement: values[0]: Invalid value: {:?}: for 'Gt', 'Lt' operators, the value must be an integer",
                    r.values[0]
                ));
            }
            return Ok(());
        }
        _ => {}
    }
    for (i, v) in r.values.iter().enumerate() {
        if let Some(m) = label_value(v).into_iter().next() {
            return Err(format!(
                "unable to parse requirement: values[{i}][{}]: Invalid value: {v:?}: {m}",
                r.key
            ));
        }
    }
    Ok(())
}

/// A parsed field selector.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct FieldSelector {
    /// (field, must equal?, value)
    terms: Vec<(String, bool, String)>,
}

fn split_unescaped(s: &str, sep: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut escaped = false;
    for c in s.chars() {
        if escaped {
            cur.push('\\');
            cur.push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == sep {
            out.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    if escaped {
        cur.push('\\');
    }
    out.push(cur);
    out
}

fn unescape(s: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c == '\\' {
            match it.next() {
                Some(e @ ('\\' | ',' | '=' | '!')) => out.push(e),
                Some(e) => return Err(format!("invalid escape sequence: \\{e}")),
                None => return Err("unterminated escape sequence".to_string()),
            }
        } else if matches!(c, ',' | '=') {
            return Err(format!("invalid field selector: unescaped {c}"));
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

impl FieldSelector {
    pub(crate) fn parse(s: &str) -> Result<FieldSelector, String> {
        let mut terms = Vec::new();
        for part in split_unescaped(s, ',') {
            if part.is_empty() {
                continue;
            }
            let (key, eq, val) = if let Some(i) = part.find("!=") {
                (&part[..i], false, &part[i + 2..])
            } else if let Some(i) = part.find("==") {
                (&part[..i], true, &part[i + 2..])
            } else if let Some(i) = part.find('=') {
                (&part[..i], true, &part[i + 1..])
            } else {
                return Err(format!(
                    "invalid selector: '{s}'; can't understand '{part}'"
                ));
            };
            let val = unescape(val).map_err(|e| format!("invalid selector: '{s}'; {e}"))?;
            terms.push((key.to_string(), eq, val));
        }
        Ok(FieldSelector { terms })
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// The fields the selector uses.
    pub(crate) fn fields(&self) -> impl Iterator<Item = &str> {
        self.terms.iter().map(|(k, _, _)| k.as_str())
    }

    /// `value_of(field)` gives an object's value of a field.
    pub(crate) fn matches(&self, value_of: impl Fn(&str) -> String) -> bool {
        self.terms
            .iter()
            .all(|(k, eq, v)| (value_of(k) == *v) == *eq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sel(s: &str) -> LabelSelector {
        LabelSelector::parse(s).unwrap()
    }

    #[test]
    fn label_selector_forms() {
        let l = json!({"a":"b","env":"prod","n":"5"});
        assert!(sel("a=b").matches(Some(&l)));
        assert!(sel("a==b").matches(Some(&l)));
        assert!(!sel("a!=b").matches(Some(&l)));
        assert!(sel("x!=b").matches(Some(&l)));
        assert!(sel("env in (prod, dev)").matches(Some(&l)));
        assert!(!sel("env notin (prod)").matches(Some(&l)));
        assert!(sel("missing notin (prod)").matches(Some(&l)));
        assert!(sel("a").matches(Some(&l)));
        assert!(sel("!x").matches(Some(&l)));
        assert!(!sel("!a").matches(Some(&l)));
        assert!(sel("a=b,env,!x").matches(Some(&l)));
        assert!(sel("n>4,n<6").matches(Some(&l)));
        assert!(sel("").matches(None));
        assert!(!sel("a").matches(None));
    }

    #[test]
    fn label_selector_errors() {
        for bad in [
            "a in",
            "a in (b",
            "=b",
            "a=b,",
            "bad key=1",
            "a=-x-",
            "a in ()",
            "a>b",
        ] {
            assert!(LabelSelector::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn field_selectors() {
        let f = FieldSelector::parse("metadata.name=a\\,b,metadata.namespace!=x").unwrap();
        assert!(f.matches(|k| if k == "metadata.name" {
            "a,b".into()
        } else {
            "y".into()
        }));
        assert!(!f.matches(|k| if k == "metadata.name" {
            "a".into()
        } else {
            "y".into()
        }));
        assert!(FieldSelector::parse("foo").is_err());
        assert_eq!(FieldSelector::parse("a==b").unwrap().terms[0].2, "b");
    }
}
