//! SCIM filters (RFC 7644 §3.4.2.2): a hand-written parser, a printer whose output parses back
//! to the same filter, and an evaluator over JSON resources. Pure.
//!
//! Beyond the RFC grammar it tolerates what real IdPs send: operators and attribute names in any
//! case, unquoted values (`externalId eq jyoung`), values left %-encoded (`"a%40b.com"` also
//! matches `a@b.com`), and Entra's `emails[type eq "work"].value eq "x"`.

use std::fmt;

use serde_json::{Number, Value};

use super::schema::{self, ResourceKind};

/// Longest filter accepted, in bytes.
pub const MAX_FILTER_LEN: usize = 10_000;
/// Deepest nesting of parentheses, brackets and `not` accepted.
pub const MAX_DEPTH: usize = 50;

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Compare(AttrPath, CompareOp, CompValue),
    Present(AttrPath),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    /// `attr[filter]`: some element of the multi-valued `attr` matches `filter`, whose paths
    /// name sub-attributes of the element.
    ValuePath(AttrPath, Box<Filter>),
}

/// `[urn:] attr [.sub]`, names as written (matching is case-insensitive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrPath {
    pub urn: Option<String>,
    pub attr: String,
    pub sub: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Debug, Clone, PartialEq)]
pub enum CompValue {
    Str(String),
    Num(Number),
    Bool(bool),
    Null,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError(pub String);

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl CompareOp {
    fn parse(word: &str) -> Option<CompareOp> {
        Some(match word.to_ascii_lowercase().as_str() {
            "eq" => CompareOp::Eq,
            "ne" => CompareOp::Ne,
            "co" => CompareOp::Co,
            "sw" => CompareOp::Sw,
            "ew" => CompareOp::Ew,
            "gt" => CompareOp::Gt,
            "ge" => CompareOp::Ge,
            "lt" => CompareOp::Lt,
            "le" => CompareOp::Le,
            _ => return None,
        })
    }

    fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "eq",
            CompareOp::Ne => "ne",
            CompareOp::Co => "co",
            CompareOp::Sw => "sw",
            CompareOp::Ew => "ew",
            CompareOp::Gt => "gt",
            CompareOp::Ge => "ge",
            CompareOp::Lt => "lt",
            CompareOp::Le => "le",
        }
    }
}

impl AttrPath {
    /// Parses `[urn:]attr[.sub]`.
    pub fn parse(text: &str) -> Result<AttrPath, FilterError> {
        let (urn, rest) = schema::split_urn(text);
        let (attr, sub) = match rest.split_once('.') {
            Some((a, s)) => (a, Some(s)),
            None => (rest, None),
        };
        if !valid_name(attr) || sub.is_some_and(|s| !valid_name(s)) {
            return Err(FilterError(format!("{text:?} is not an attribute path")));
        }
        if let Some(u) = urn
            && (u.len() < 5 || u.ends_with(':'))
        {
            return Err(FilterError(format!("{text:?} is not an attribute path")));
        }
        Ok(AttrPath {
            urn: urn.map(str::to_string),
            attr: attr.to_string(),
            sub: sub.map(str::to_string),
        })
    }

    pub fn simple(attr: &str) -> AttrPath {
        AttrPath {
            urn: None,
            attr: attr.to_string(),
            sub: None,
        }
    }

    /// True when this path names `attr` (and `sub`) case-insensitively, ignoring a core URN.
    pub fn is(&self, kind: ResourceKind, attr: &str, sub: Option<&str>) -> bool {
        let urn_ok = match &self.urn {
            None => true,
            Some(u) => u.eq_ignore_ascii_case(kind.core_schema()),
        };
        urn_ok
            && self.attr.eq_ignore_ascii_case(attr)
            && match (&self.sub, sub) {
                (None, None) => true,
                (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
                _ => false,
            }
    }
}

fn valid_name(name: &str) -> bool {
    if name == "$ref" {
        return true;
    }
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(u) = &self.urn {
            write!(f, "{u}:")?;
        }
        f.write_str(&self.attr)?;
        if let Some(s) = &self.sub {
            write!(f, ".{s}")?;
        }
        Ok(())
    }
}

impl fmt::Display for CompValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CompValue::Str(s) => write!(f, "{}", Value::String(s.clone())),
            CompValue::Num(n) => write!(f, "{n}"),
            CompValue::Bool(b) => write!(f, "{b}"),
            CompValue::Null => f.write_str("null"),
        }
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn child(f: &mut fmt::Formatter<'_>, c: &Filter) -> fmt::Result {
            match c {
                Filter::And(..) | Filter::Or(..) => write!(f, "({c})"),
                _ => write!(f, "{c}"),
            }
        }
        match self {
            Filter::Compare(p, op, v) => write!(f, "{p} {} {v}", op.as_str()),
            Filter::Present(p) => write!(f, "{p} pr"),
            Filter::And(a, b) => {
                child(f, a)?;
                f.write_str(" and ")?;
                child(f, b)
            }
            Filter::Or(a, b) => {
                child(f, a)?;
                f.write_str(" or ")?;
                child(f, b)
            }
            Filter::Not(inner) => write!(f, "not ({inner})"),
            Filter::ValuePath(p, inner) => write!(f, "{p}[{inner}]"),
        }
    }
}

// ----- lexer -----

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Open,
    Close,
    OpenBracket,
    CloseBracket,
    Word(String),
    Str(String),
}

fn lex(text: &str) -> Result<Vec<Token>, FilterError> {
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some(&(i, c)) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' => {
                chars.next();
                tokens.push(Token::Open);
            }
            ')' => {
                chars.next();
                tokens.push(Token::Close);
            }
            '[' => {
                chars.next();
                tokens.push(Token::OpenBracket);
            }
            ']' => {
                chars.next();
                tokens.push(Token::CloseBracket);
            }
            '"' => {
                // A JSON string: find its end honouring escapes, then let serde decode it.
                chars.next();
                let mut escaped = false;
                let mut end = None;
                for (j, d) in chars.by_ref() {
                    if escaped {
                        escaped = false;
                    } else if d == '\\' {
                        escaped = true;
                    } else if d == '"' {
                        end = Some(j);
                        break;
                    }
                }
                let end = end.ok_or_else(|| FilterError("unterminated string".into()))?;
                let s: String = serde_json::from_str(&text[i..=end])
                    .map_err(|_| FilterError(format!("bad string {}", &text[i..=end])))?;
                tokens.push(Token::Str(s));
            }
            _ => {
                let mut end = text.len();
                while let Some(&(j, d)) = chars.peek() {
                    if d.is_whitespace() || matches!(d, '(' | ')' | '[' | ']' | '"') {
                        end = j;
                        break;
                    }
                    chars.next();
                }
                tokens.push(Token::Word(text[i..end].to_string()));
            }
        }
    }
    Ok(tokens)
}

// ----- parser -----

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
}

fn is_keyword(t: Option<&Token>, kw: &str) -> bool {
    matches!(t, Some(Token::Word(w)) if w.eq_ignore_ascii_case(kw))
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn enter(&mut self) -> Result<(), FilterError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(FilterError(format!(
                "filter is nested more than {MAX_DEPTH} levels deep"
            )));
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Filter, FilterError> {
        let mut left = self.and()?;
        while is_keyword(self.peek(), "or") {
            self.next();
            let right = self.and()?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter, FilterError> {
        let mut left = self.unary()?;
        while is_keyword(self.peek(), "and") {
            self.next();
            let right = self.unary()?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Filter, FilterError> {
        if is_keyword(self.peek(), "not") && self.tokens.get(self.pos + 1) == Some(&Token::Open) {
            self.next();
            self.enter()?;
            let inner = self.atom()?;
            self.depth -= 1;
            return Ok(Filter::Not(Box::new(inner)));
        }
        self.atom()
    }

    fn atom(&mut self) -> Result<Filter, FilterError> {
        match self.next() {
            Some(Token::Open) => {
                self.enter()?;
                let inner = self.or()?;
                self.depth -= 1;
                match self.next() {
                    Some(Token::Close) => Ok(inner),
                    _ => Err(FilterError("expected ')'".into())),
                }
            }
            Some(Token::Word(w)) => self.attr_expr(&w),
            Some(t) => Err(FilterError(format!("unexpected {}", describe(&t)))),
            None => Err(FilterError("unexpected end of filter".into())),
        }
    }

    fn attr_expr(&mut self, word: &str) -> Result<Filter, FilterError> {
        let path = AttrPath::parse(word)?;
        if self.peek() == Some(&Token::OpenBracket) {
            self.next();
            if path.sub.is_some() {
                return Err(FilterError(format!("{word}[...] names a sub-attribute")));
            }
            self.enter()?;
            let inner = self.or()?;
            self.depth -= 1;
            if self.next() != Some(Token::CloseBracket) {
                return Err(FilterError("expected ']'".into()));
            }
            // Entra: `emails[type eq "work"].value eq "x"`.
            if let Some(Token::Word(w)) = self.peek()
                && let Some(sub) = w.strip_prefix('.')
            {
                let sub = sub.to_string();
                self.next();
                let rel = AttrPath::parse(&sub)?;
                if rel.urn.is_some() || rel.sub.is_some() {
                    return Err(FilterError(format!("bad sub-attribute .{sub}")));
                }
                let cond = self.condition(rel)?;
                return Ok(Filter::ValuePath(
                    path,
                    Box::new(Filter::And(Box::new(inner), Box::new(cond))),
                ));
            }
            return Ok(Filter::ValuePath(path, Box::new(inner)));
        }
        self.condition(path)
    }

    fn condition(&mut self, path: AttrPath) -> Result<Filter, FilterError> {
        let op = match self.next() {
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("pr") => {
                return Ok(Filter::Present(path));
            }
            Some(Token::Word(w)) => CompareOp::parse(&w)
                .ok_or_else(|| FilterError(format!("unknown operator {w:?} after {path}")))?,
            Some(t) => {
                return Err(FilterError(format!(
                    "expected an operator, found {}",
                    describe(&t)
                )));
            }
            None => return Err(FilterError(format!("expected an operator after {path}"))),
        };
        let value = match self.next() {
            Some(Token::Str(s)) => CompValue::Str(s),
            Some(Token::Word(w)) => word_value(&w),
            Some(t) => {
                return Err(FilterError(format!(
                    "expected a value, found {}",
                    describe(&t)
                )));
            }
            None => {
                return Err(FilterError(format!(
                    "expected a value after {}",
                    op.as_str()
                )));
            }
        };
        Ok(Filter::Compare(path, op, value))
    }
}

/// An unquoted comparison value: a literal, a number, or (Microsoft) a bare string.
fn word_value(w: &str) -> CompValue {
    match w.to_ascii_lowercase().as_str() {
        "true" => return CompValue::Bool(true),
        "false" => return CompValue::Bool(false),
        "null" => return CompValue::Null,
        _ => {}
    }
    if w.starts_with(|c: char| c == '-' || c.is_ascii_digit())
        && let Ok(n) = serde_json::from_str::<Number>(w)
    {
        return CompValue::Num(n);
    }
    CompValue::Str(w.to_string())
}

fn describe(t: &Token) -> String {
    match t {
        Token::Open => "'('".into(),
        Token::Close => "')'".into(),
        Token::OpenBracket => "'['".into(),
        Token::CloseBracket => "']'".into(),
        Token::Word(w) => format!("{w:?}"),
        Token::Str(s) => format!("{:?}", s),
    }
}

/// Parses a filter. Errors are suitable for a 400 `invalidFilter` detail.
pub fn parse(text: &str) -> Result<Filter, FilterError> {
    if text.len() > MAX_FILTER_LEN {
        return Err(FilterError(format!(
            "filter is longer than {MAX_FILTER_LEN} bytes"
        )));
    }
    // A filter still %-encoded after the query string was decoded (seen from Microsoft's
    // validator): decode it once more when it has no spaces but encoded ones.
    let decoded;
    let text = if !text.contains(' ') && (text.contains("%20") || text.contains('+')) {
        decoded = percent_decode(&text.replace('+', " ")).unwrap_or_else(|| text.to_string());
        decoded.as_str()
    } else {
        text
    };
    let tokens = lex(text)?;
    if tokens.is_empty() {
        return Err(FilterError("empty filter".into()));
    }
    let mut p = Parser {
        tokens,
        pos: 0,
        depth: 0,
    };
    let f = p.or()?;
    if let Some(t) = p.peek() {
        return Err(FilterError(format!(
            "unexpected {} after a complete filter",
            describe(t)
        )));
    }
    Ok(f)
}

/// Decodes `%XX` escapes; None when there are none or the result is not UTF-8.
pub fn percent_decode(s: &str) -> Option<String> {
    if !s.contains('%') {
        return None;
    }
    let decoded = percent_encoding::percent_decode_str(s).decode_utf8().ok()?;
    (decoded != s).then(|| decoded.into_owned())
}

mod eval;

#[cfg(test)]
mod tests;
