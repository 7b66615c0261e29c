//! The part of CEL (the Common Expression Language) that Calico's CRDs write their validation
//! rules (`x-kubernetes-validations`) in, evaluated over JSON as kube-apiserver evaluates them
//! on a create: `self` is the value the rule sits on, `has()`, `size()`, field selection,
//! `==`, `!=`, `<`, `<=`, `>`, `>=`, `in`, `!`, `&&`, `||` (with CEL's commutative error
//! absorption), `? :`, list literals, `exists()` and `all()`, and the string functions
//! `contains()`, `startsWith()` and `endsWith()`. A rule outside this subset does not parse,
//! and its caller says the API server checks it instead. Rules that read `oldSelf` are
//! transition rules, which the server evaluates only on updates.

use serde_json::Value;

/// A parsed expression.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    Null,
    Bool(bool),
    Int(i64),
    Str(String),
    List(Vec<Expr>),
    Ident(String),
    /// `operand.field`.
    Select(Box<Expr>, String),
    /// `has(operand.field)`.
    Has(Box<Expr>, String),
    /// `function(args)` or `target.function(args)`.
    Call(Option<Box<Expr>>, String, Vec<Expr>),
    /// `target.exists(var, predicate)` (`all` when the flag is false).
    Comprehension {
        target: Box<Expr>,
        var: String,
        predicate: Box<Expr>,
        exists: bool,
    },
    Index(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Neg(Box<Expr>),
    Binary(Op, Box<Expr>, Box<Expr>),
    Conditional(Box<Expr>, Box<Expr>, Box<Expr>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    Add,
    Sub,
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Ident(String),
    Int(i64),
    Str(String),
    Punct(&'static str),
}

const PUNCTUATION: &[&str] = &[
    "==", "!=", "<=", ">=", "&&", "||", "!", "<", ">", "?", ":", ".", ",", "(", ")", "[", "]", "+",
    "-",
];

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            tokens.push(Token::Ident(chars[start..i].iter().collect()));
        } else if c.is_ascii_digit() {
            let start = i;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            if i < chars.len() && (chars[i] == '.' || chars[i] == 'u' || chars[i] == 'e') {
                return Err(format!("unsupported number literal at {start}"));
            }
            let digits: String = chars[start..i].iter().collect();
            let n = digits
                .parse()
                .map_err(|_| format!("integer literal {digits} out of range"))?;
            tokens.push(Token::Int(n));
        } else if c == '\'' || c == '"' {
            let quote = c;
            i += 1;
            let mut out = String::new();
            loop {
                let Some(&c) = chars.get(i) else {
                    return Err("unterminated string literal".into());
                };
                i += 1;
                match c {
                    _ if c == quote => break,
                    '\\' => {
                        let Some(&e) = chars.get(i) else {
                            return Err("unterminated string literal".into());
                        };
                        i += 1;
                        out.push(match e {
                            'n' => '\n',
                            't' => '\t',
                            'r' => '\r',
                            '\\' | '\'' | '"' => e,
                            other => return Err(format!("unsupported escape \\{other}")),
                        });
                    }
                    _ => out.push(c),
                }
            }
            tokens.push(Token::Str(out));
        } else {
            let rest: String = chars[i..chars.len().min(i + 2)].iter().collect();
            let punct = PUNCTUATION
                .iter()
                .find(|p| rest.starts_with(**p))
                .ok_or_else(|| format!("unexpected character {c:?}"))?;
            tokens.push(Token::Punct(punct));
            i += punct.chars().count();
        }
    }
    Ok(tokens)
}

/// The methods evaluated here.
const METHODS: &[&str] = &["size", "contains", "startsWith", "endsWith"];

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn eat(&mut self, punct: &str) -> bool {
        if self.peek() == Some(&Token::Punct(leak(punct))) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, punct: &str) -> Result<(), String> {
        if self.eat(punct) {
            Ok(())
        } else {
            Err(format!("expected {punct:?} at token {}", self.at))
        }
    }

    fn ident(&mut self) -> Result<String, String> {
        match self.tokens.get(self.at) {
            Some(Token::Ident(name)) => {
                self.at += 1;
                Ok(name.clone())
            }
            _ => Err(format!("expected a name at token {}", self.at)),
        }
    }

    fn conditional(&mut self) -> Result<Expr, String> {
        let condition = self.binary(0)?;
        if self.eat("?") {
            let then = self.conditional()?;
            self.expect(":")?;
            let otherwise = self.conditional()?;
            return Ok(Expr::Conditional(
                Box::new(condition),
                Box::new(then),
                Box::new(otherwise),
            ));
        }
        Ok(condition)
    }

    /// Binary operators by precedence level: `||`, `&&`, relations, `+ -`.
    fn binary(&mut self, level: usize) -> Result<Expr, String> {
        const LEVELS: &[&[(&str, Op)]] = &[
            &[("||", Op::Or)],
            &[("&&", Op::And)],
            &[
                ("==", Op::Eq),
                ("!=", Op::Ne),
                ("<=", Op::Le),
                (">=", Op::Ge),
                ("<", Op::Lt),
                (">", Op::Gt),
                ("in", Op::In),
            ],
            &[("+", Op::Add), ("-", Op::Sub)],
        ];
        if level == LEVELS.len() {
            return self.unary();
        }
        let mut left = self.binary(level + 1)?;
        'more: loop {
            for (text, op) in LEVELS[level] {
                let matched = match self.peek() {
                    Some(Token::Punct(p)) => p == text,
                    Some(Token::Ident(word)) => word == text,
                    _ => false,
                };
                if matched {
                    self.at += 1;
                    let right = self.binary(level + 1)?;
                    left = Expr::Binary(*op, Box::new(left), Box::new(right));
                    continue 'more;
                }
            }
            return Ok(left);
        }
    }

    fn unary(&mut self) -> Result<Expr, String> {
        if self.eat("!") {
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        if self.eat("-") {
            return Ok(Expr::Neg(Box::new(self.unary()?)));
        }
        self.postfix()
    }

    fn postfix(&mut self) -> Result<Expr, String> {
        let mut expr = self.primary()?;
        loop {
            if self.eat(".") {
                let name = self.ident()?;
                if self.eat("(") {
                    if name == "exists" || name == "all" {
                        let var = self.ident()?;
                        self.expect(",")?;
                        let predicate = self.conditional()?;
                        self.expect(")")?;
                        expr = Expr::Comprehension {
                            target: Box::new(expr),
                            var,
                            predicate: Box::new(predicate),
                            exists: name == "exists",
                        };
                    } else if METHODS.contains(&name.as_str()) {
                        let args = self.arguments()?;
                        expr = Expr::Call(Some(Box::new(expr)), name, args);
                    } else {
                        return Err(format!("unsupported function {name}()"));
                    }
                } else {
                    expr = Expr::Select(Box::new(expr), name);
                }
            } else if self.eat("[") {
                let index = self.conditional()?;
                self.expect("]")?;
                expr = Expr::Index(Box::new(expr), Box::new(index));
            } else {
                return Ok(expr);
            }
        }
    }

    /// The arguments after `(`, and the `)`.
    fn arguments(&mut self) -> Result<Vec<Expr>, String> {
        let mut args = Vec::new();
        if self.eat(")") {
            return Ok(args);
        }
        loop {
            args.push(self.conditional()?);
            if self.eat(")") {
                return Ok(args);
            }
            self.expect(",")?;
        }
    }

    fn primary(&mut self) -> Result<Expr, String> {
        let Some(token) = self.tokens.get(self.at).cloned() else {
            return Err("unexpected end of the rule".into());
        };
        self.at += 1;
        match token {
            Token::Int(n) => Ok(Expr::Int(n)),
            Token::Str(s) => Ok(Expr::Str(s)),
            Token::Punct("(") => {
                let inner = self.conditional()?;
                self.expect(")")?;
                Ok(inner)
            }
            Token::Punct("[") => {
                let mut items = Vec::new();
                if !self.eat("]") {
                    loop {
                        items.push(self.conditional()?);
                        if self.eat("]") {
                            break;
                        }
                        self.expect(",")?;
                    }
                }
                Ok(Expr::List(items))
            }
            Token::Ident(name) => match name.as_str() {
                "true" => Ok(Expr::Bool(true)),
                "false" => Ok(Expr::Bool(false)),
                "null" => Ok(Expr::Null),
                "has" => {
                    self.expect("(")?;
                    let arg = self.conditional()?;
                    self.expect(")")?;
                    match arg {
                        Expr::Select(operand, field) => Ok(Expr::Has(operand, field)),
                        _ => Err("has() takes a field selection".into()),
                    }
                }
                "size" if self.eat("(") => {
                    let args = self.arguments()?;
                    Ok(Expr::Call(None, name, args))
                }
                _ if self.peek() == Some(&Token::Punct("(")) => {
                    Err(format!("unsupported function {name}()"))
                }
                _ => Ok(Expr::Ident(name)),
            },
            Token::Punct(p) => Err(format!("unexpected {p:?}")),
        }
    }
}

/// The `&'static str` of a punctuation token (they all are in [`PUNCTUATION`]).
fn leak(punct: &str) -> &'static str {
    PUNCTUATION
        .iter()
        .find(|p| **p == punct)
        .copied()
        .unwrap_or("")
}

/// Parses a rule; an error for anything outside the subset this module evaluates.
pub fn parse(rule: &str) -> Result<Expr, String> {
    let mut parser = Parser {
        tokens: tokenize(rule)?,
        at: 0,
    };
    let expr = parser.conditional()?;
    if parser.at != parser.tokens.len() {
        return Err(format!("unexpected text after token {}", parser.at));
    }
    Ok(expr)
}

impl Expr {
    /// Whether the expression reads `name` (a transition rule reads `oldSelf`).
    pub fn mentions(&self, name: &str) -> bool {
        let any = |items: &[Expr]| items.iter().any(|e| e.mentions(name));
        match self {
            Expr::Ident(ident) => ident == name,
            Expr::Null | Expr::Bool(_) | Expr::Int(_) | Expr::Str(_) => false,
            Expr::List(items) => any(items),
            Expr::Select(e, _) | Expr::Has(e, _) | Expr::Not(e) | Expr::Neg(e) => e.mentions(name),
            Expr::Call(target, _, args) => {
                target.as_ref().is_some_and(|t| t.mentions(name)) || any(args)
            }
            Expr::Comprehension {
                target, predicate, ..
            } => target.mentions(name) || predicate.mentions(name),
            Expr::Index(a, b) | Expr::Binary(_, a, b) => a.mentions(name) || b.mentions(name),
            Expr::Conditional(a, b, c) => a.mentions(name) || b.mentions(name) || c.mentions(name),
        }
    }
}

/// A value during evaluation: JSON, with integers kept apart from doubles as CEL does.
#[derive(Clone, Debug)]
enum Val {
    Null,
    Bool(bool),
    Int(i64),
    Double(f64),
    Str(String),
    List(Vec<Val>),
    Map(serde_json::Map<String, Value>),
}

impl Val {
    fn of(value: &Value) -> Val {
        match value {
            Value::Null => Val::Null,
            Value::Bool(b) => Val::Bool(*b),
            Value::Number(n) => match n.as_i64() {
                Some(i) => Val::Int(i),
                None => Val::Double(n.as_f64().unwrap_or(f64::NAN)),
            },
            Value::String(s) => Val::Str(s.clone()),
            Value::Array(items) => Val::List(items.iter().map(Val::of).collect()),
            Value::Object(map) => Val::Map(map.clone()),
        }
    }

    fn type_name(&self) -> &'static str {
        match self {
            Val::Null => "null_type",
            Val::Bool(_) => "bool",
            Val::Int(_) => "int",
            Val::Double(_) => "double",
            Val::Str(_) => "string",
            Val::List(_) => "list",
            Val::Map(_) => "map",
        }
    }
}

/// CEL's heterogeneous equality: values of different types are unequal, numbers compare by
/// value.
fn equal(a: &Val, b: &Val) -> bool {
    match (a, b) {
        (Val::Null, Val::Null) => true,
        (Val::Bool(x), Val::Bool(y)) => x == y,
        (Val::Int(x), Val::Int(y)) => x == y,
        (Val::Int(x), Val::Double(y)) | (Val::Double(y), Val::Int(x)) => (*x as f64) == *y,
        (Val::Double(x), Val::Double(y)) => x == y,
        (Val::Str(x), Val::Str(y)) => x == y,
        (Val::List(x), Val::List(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| equal(a, b))
        }
        (Val::Map(x), Val::Map(y)) => x == y,
        _ => false,
    }
}

fn no_overload(op: &str, a: &Val, b: &Val) -> String {
    format!("no such overload: {} {op} {}", a.type_name(), b.type_name())
}

/// The variables of an evaluation.
struct Scope {
    names: Vec<(String, Val)>,
}

impl Scope {
    fn get(&self, name: &str) -> Result<Val, String> {
        self.names
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| format!("undeclared reference to '{name}'"))
    }
}

/// Evaluates a rule with `self` bound to `value`: Ok(true) when it holds, Ok(false) when it
/// does not, Err with CEL's runtime error (`no such key: node`) when it cannot be evaluated.
pub fn holds(rule: &Expr, value: &Value) -> Result<bool, String> {
    let mut scope = Scope {
        names: vec![("self".into(), Val::of(value))],
    };
    match eval(rule, &mut scope)? {
        Val::Bool(b) => Ok(b),
        other => Err(format!(
            "rule evaluated to {}, not a bool",
            other.type_name()
        )),
    }
}

fn eval(expr: &Expr, scope: &mut Scope) -> Result<Val, String> {
    Ok(match expr {
        Expr::Null => Val::Null,
        Expr::Bool(b) => Val::Bool(*b),
        Expr::Int(n) => Val::Int(*n),
        Expr::Str(s) => Val::Str(s.clone()),
        Expr::List(items) => Val::List(
            items
                .iter()
                .map(|e| eval(e, scope))
                .collect::<Result<_, _>>()?,
        ),
        Expr::Ident(name) => scope.get(name)?,
        Expr::Select(operand, field) => match eval(operand, scope)? {
            Val::Map(map) => Val::of(
                map.get(field)
                    .ok_or_else(|| format!("no such key: {field}"))?,
            ),
            other => {
                return Err(format!(
                    "type '{}' does not support field selection",
                    other.type_name()
                ));
            }
        },
        Expr::Has(operand, field) => match eval(operand, scope)? {
            Val::Map(map) => Val::Bool(map.contains_key(field)),
            other => {
                return Err(format!(
                    "type '{}' does not support field selection",
                    other.type_name()
                ));
            }
        },
        Expr::Index(operand, index) => match (eval(operand, scope)?, eval(index, scope)?) {
            (Val::List(items), Val::Int(i)) => usize::try_from(i)
                .ok()
                .and_then(|i| items.get(i).cloned())
                .ok_or_else(|| format!("index out of bounds: {i}"))?,
            (Val::Map(map), Val::Str(key)) => {
                Val::of(map.get(&key).ok_or_else(|| format!("no such key: {key}"))?)
            }
            (a, b) => return Err(no_overload("_[_]", &a, &b)),
        },
        Expr::Not(operand) => match eval(operand, scope)? {
            Val::Bool(b) => Val::Bool(!b),
            other => return Err(format!("no such overload: !{}", other.type_name())),
        },
        Expr::Neg(operand) => match eval(operand, scope)? {
            Val::Int(n) => Val::Int(n.checked_neg().ok_or("integer overflow")?),
            Val::Double(d) => Val::Double(-d),
            other => return Err(format!("no such overload: -{}", other.type_name())),
        },
        Expr::Conditional(condition, then, otherwise) => match eval(condition, scope)? {
            Val::Bool(true) => eval(then, scope)?,
            Val::Bool(false) => eval(otherwise, scope)?,
            other => return Err(format!("no such overload: {} ? _ : _", other.type_name())),
        },
        Expr::Binary(Op::And, a, b) => logic(a, b, false, scope)?,
        Expr::Binary(Op::Or, a, b) => logic(a, b, true, scope)?,
        Expr::Binary(op, a, b) => {
            let (a, b) = (eval(a, scope)?, eval(b, scope)?);
            binary(*op, &a, &b)?
        }
        Expr::Call(target, name, args) => {
            let target = match target {
                Some(t) => Some(eval(t, scope)?),
                None => None,
            };
            let args: Vec<Val> = args
                .iter()
                .map(|e| eval(e, scope))
                .collect::<Result<_, _>>()?;
            call(target, name, &args)?
        }
        Expr::Comprehension {
            target,
            var,
            predicate,
            exists,
        } => {
            let items = match eval(target, scope)? {
                Val::List(items) => items,
                Val::Map(map) => map.keys().map(|k| Val::Str(k.clone())).collect(),
                other => {
                    return Err(format!(
                        "no such overload: {}.{}()",
                        other.type_name(),
                        if *exists { "exists" } else { "all" }
                    ));
                }
            };
            // CEL's exists() is true when any item holds, even if others fail to evaluate;
            // all() is false when any item fails to hold.
            let mut error = None;
            for item in items {
                scope.names.push((var.clone(), item));
                let result = eval(predicate, scope);
                scope.names.pop();
                match result {
                    Ok(Val::Bool(b)) if b == *exists => return Ok(Val::Bool(b)),
                    Ok(Val::Bool(_)) => {}
                    Ok(other) => {
                        error.get_or_insert(format!(
                            "predicate evaluated to {}, not a bool",
                            other.type_name()
                        ));
                    }
                    Err(e) => {
                        error.get_or_insert(e);
                    }
                }
            }
            match error {
                Some(e) => return Err(e),
                None => Val::Bool(!*exists),
            }
        }
    })
}

/// `&&` (`short` false) and `||` (`short` true), commutative as CEL's: a side that decides the
/// result wins over an error on the other side.
fn logic(a: &Expr, b: &Expr, short: bool, scope: &mut Scope) -> Result<Val, String> {
    let left = eval(a, scope);
    if let Ok(Val::Bool(v)) = left
        && v == short
    {
        return Ok(Val::Bool(short));
    }
    let right = eval(b, scope);
    if let Ok(Val::Bool(v)) = right
        && v == short
    {
        return Ok(Val::Bool(short));
    }
    let op = if short { "||" } else { "&&" };
    match (left?, right?) {
        (Val::Bool(_), Val::Bool(_)) => Ok(Val::Bool(!short)),
        (a, b) => Err(no_overload(op, &a, &b)),
    }
}

fn binary(op: Op, a: &Val, b: &Val) -> Result<Val, String> {
    use std::cmp::Ordering;
    let order = |symbol: &str| -> Result<Ordering, String> {
        match (a, b) {
            (Val::Int(x), Val::Int(y)) => Ok(x.cmp(y)),
            (Val::Str(x), Val::Str(y)) => Ok(x.cmp(y)),
            (Val::Bool(x), Val::Bool(y)) => Ok(x.cmp(y)),
            (Val::Int(_) | Val::Double(_), Val::Int(_) | Val::Double(_)) => {
                let f = |v: &Val| match v {
                    Val::Int(i) => *i as f64,
                    Val::Double(d) => *d,
                    _ => f64::NAN,
                };
                f(a).partial_cmp(&f(b))
                    .ok_or_else(|| no_overload(symbol, a, b))
            }
            _ => Err(no_overload(symbol, a, b)),
        }
    };
    Ok(match op {
        Op::Eq => Val::Bool(equal(a, b)),
        Op::Ne => Val::Bool(!equal(a, b)),
        Op::Lt => Val::Bool(order("<")? == Ordering::Less),
        Op::Le => Val::Bool(order("<=")? != Ordering::Greater),
        Op::Gt => Val::Bool(order(">")? == Ordering::Greater),
        Op::Ge => Val::Bool(order(">=")? != Ordering::Less),
        Op::In => match b {
            Val::List(items) => Val::Bool(items.iter().any(|item| equal(a, item))),
            Val::Map(map) => match a {
                Val::Str(key) => Val::Bool(map.contains_key(key)),
                _ => Val::Bool(false),
            },
            _ => return Err(no_overload("in", a, b)),
        },
        Op::Add => match (a, b) {
            (Val::Int(x), Val::Int(y)) => Val::Int(x.checked_add(*y).ok_or("integer overflow")?),
            (Val::Str(x), Val::Str(y)) => Val::Str(format!("{x}{y}")),
            (Val::List(x), Val::List(y)) => Val::List(x.iter().chain(y).cloned().collect()),
            _ => return Err(no_overload("+", a, b)),
        },
        Op::Sub => match (a, b) {
            (Val::Int(x), Val::Int(y)) => Val::Int(x.checked_sub(*y).ok_or("integer overflow")?),
            _ => return Err(no_overload("-", a, b)),
        },
        Op::And | Op::Or => unreachable!("evaluated by logic()"),
    })
}

fn call(target: Option<Val>, name: &str, args: &[Val]) -> Result<Val, String> {
    match (name, target.as_ref(), args) {
        ("size", None, [value]) | ("size", Some(value), []) => Ok(Val::Int(match value {
            Val::Str(s) => s.chars().count() as i64,
            Val::List(items) => items.len() as i64,
            Val::Map(map) => map.len() as i64,
            other => return Err(format!("no such overload: size({})", other.type_name())),
        })),
        ("contains", Some(Val::Str(s)), [Val::Str(part)]) => {
            Ok(Val::Bool(s.contains(part.as_str())))
        }
        ("startsWith", Some(Val::Str(s)), [Val::Str(part)]) => {
            Ok(Val::Bool(s.starts_with(part.as_str())))
        }
        ("endsWith", Some(Val::Str(s)), [Val::Str(part)]) => {
            Ok(Val::Bool(s.ends_with(part.as_str())))
        }
        (name, target, args) => Err(format!(
            "no such overload: {}{name}({})",
            target
                .map(|t| format!("{}.", t.type_name()))
                .unwrap_or_default(),
            args.iter()
                .map(Val::type_name)
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(rule: &str, value: Value) -> Result<bool, String> {
        holds(
            &parse(rule).unwrap_or_else(|e| panic!("{rule}: {e}")),
            &value,
        )
    }

    /// Checks `rule` against each value, expecting the result beside it.
    fn assert_checks(rule: &str, cases: &[(Value, bool)]) {
        for (value, want) in cases {
            assert_eq!(check(rule, value.clone()), Ok(*want), "{rule} on {value}");
        }
    }

    #[test]
    fn calico_ip_pool_rules() {
        let ipip_v6 = "!self.cidr.contains(':') || !has(self.ipipMode) || self.ipipMode == 'Never' || size(self.ipipMode) == 0";
        assert_checks(
            ipip_v6,
            &[
                (json!({"cidr": "10.0.0.0/16", "ipipMode": "Always"}), true),
                (json!({"cidr": "fd00::/64", "ipipMode": "Always"}), false),
                (json!({"cidr": "fd00::/64", "ipipMode": "Never"}), true),
                (json!({"cidr": "fd00::/64"}), true),
            ],
        );
        let lb = "!has(self.allowedUses) || !self.allowedUses.exists(u, u == 'LoadBalancer') || !self.allowedUses.exists(u, u == 'Workload' || u == 'Tunnel')";
        assert_checks(
            lb,
            &[
                (json!({"allowedUses": ["LoadBalancer", "Workload"]}), false),
                (json!({"allowedUses": ["Workload", "Tunnel"]}), true),
            ],
        );
    }

    #[test]
    fn missing_fields_are_errors_unless_has_guards_them() {
        let node = "has(self.node) && size(self.node) > 0";
        assert_checks(
            node,
            &[
                (json!({"interfaceName": "eth0"}), false),
                (json!({"node": "n1"}), true),
            ],
        );
        assert_eq!(
            check(
                "self.action == 'Allow' || !has(self.http)",
                json!({"http": {}})
            ),
            Err("no such key: action".into())
        );
        // A side that decides the result absorbs the other side's error, both ways round.
        assert_checks("self.nope == 1 || true", &[(json!({}), true)]);
        assert_checks("false && self.nope == 1", &[(json!({}), false)]);
    }

    #[test]
    fn int_or_string_compares_across_types_without_error() {
        let http = "!has(self.http) || !has(self.protocol) || self.protocol == 'TCP' || self.protocol == 6";
        assert_checks(
            http,
            &[
                (json!({"http": {}, "protocol": 6}), true),
                (json!({"http": {}, "protocol": "UDP"}), false),
                (json!({"http": {}, "protocol": 17}), false),
            ],
        );
    }

    #[test]
    fn conditionals_metadata_and_lists() {
        let tier = "self.metadata.name == 'default' ? (has(self.spec.defaultAction) && self.spec.defaultAction == 'Deny') : true";
        assert_checks(
            tier,
            &[
                (
                    json!({"metadata": {"name": "default"}, "spec": {"defaultAction": "Pass"}}),
                    false,
                ),
                (json!({"metadata": {"name": "other"}, "spec": {}}), true),
            ],
        );
        let felix = "self.metadata.name == 'default' || self.metadata.name.startsWith('node.') ? !has(self.spec.nodeSelector) : true";
        assert_checks(
            felix,
            &[(
                json!({"metadata": {"name": "node.a"}, "spec": {"nodeSelector": "x"}}),
                false,
            )],
        );
        let kube_admin = "!(self.name in ['default', 'kube-admin'])";
        assert_checks(kube_admin, &[(json!({"name": "kube-admin"}), false)]);
        assert_checks(
            "self.items.all(i, i > 1)",
            &[(json!({"items": [2, 3]}), true)],
        );
        assert_checks(
            "self.a + 1 >= 3 && 'x' + 'y' == 'xy'",
            &[(json!({"a": 2}), true)],
        );
    }

    #[test]
    fn rules_outside_the_subset_do_not_parse() {
        assert!(parse("self.matches('^a$')").is_err());
        assert!(parse("isCIDR(self)").is_err());
        assert!(parse("self.x == 1.5").is_err());
        assert!(parse("self.x ==").is_err());
        assert!(parse("self == oldSelf").unwrap().mentions("oldSelf"));
        assert!(!parse("self.a == 1").unwrap().mentions("oldSelf"));
    }
}
