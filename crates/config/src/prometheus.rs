//! The check kind `prometheus`: scrape a Prometheus exposition endpoint
//! and evaluate conditions on its samples. Its configuration as written,
//! as validated, and the compiler of the conditions' small expression
//! language, so that a condition that cannot be evaluated is refused at
//! load with the position of the mistake.
//!
//! The language (a small part of PromQL, with the same meanings):
//!
//! - selectors: `name` or `name{label="v", other!="w", re=~"a.*", nre!~"b"}`
//!   (regexes anchored at both ends, as PromQL's are);
//! - numbers (`0.1`, `1e9`), parentheses, unary minus;
//! - arithmetic `+ - * /` between vectors (samples matched on equal label
//!   sets; the metric name is dropped) and with numbers;
//! - `rate(selector)` (per second, counter resets allowed) and
//!   `delta(selector)` over the last two scrapes;
//! - exactly one comparison `< <= > >= == !=` at the top: it keeps the
//!   samples of its left side for which it holds, and the condition is
//!   met when any sample is left.
//!
//! A check may also declare measures (`[[site.check.measure]] name =
//! "orders_queue", expr = 'queue_length{queue="orders"}'`): expressions
//! without a comparison whose value, summed over their samples as
//! PromQL's `sum()` would (as `[site.capacity]` sums its loads), goes into
//! the evidence under [`MEASURES_KEY`] for a capacity forecast to follow.

use regex::Regex;
use serde::Deserialize;
use toml::Spanned;
use toml::de::DeValue;

use crate::http::HttpSpec;
use crate::load::{Defaults, Loader};

/// At most this many conditions per check.
const MAX_CONDITIONS: usize = 64;

/// At most this many bytes in one expression.
const MAX_EXPR_BYTES: usize = 4096;

/// How deep parentheses and operators may nest.
const MAX_DEPTH: usize = 32;

/// At most this many measures per check.
const MAX_MEASURES: usize = 64;

/// At most this many bytes in a measure's name.
const MAX_MEASURE_NAME: usize = 64;

/// The keys of a `prometheus` check besides the HTTP ones.
const PROMETHEUS_KEYS: &[&str] = &["condition", "measure"];

/// The evidence key under which the probe writes each measure's value:
/// `{"measures": {"orders_queue": {"expr": ..., "value": 12, "series": 1}}}`.
pub const MEASURES_KEY: &str = "measures";

/// The JSON pointer to a measure's value in the evidence, for a forecast.
pub fn measure_pointer(name: &str) -> String {
    // Names are `[a-zA-Z_][a-zA-Z0-9_:]*`: nothing to escape.
    format!("/{MEASURES_KEY}/{name}/value")
}

/// `kind = "prometheus"`
#[derive(Debug, Clone)]
pub struct PrometheusSpec {
    /// How the exposition is fetched (every `kind = "http"` key applies).
    pub http: HttpSpec,
    /// What must not be true of its samples.
    pub conditions: Vec<Condition>,
    /// Values read on each scrape, for forecasts.
    pub measures: Vec<PromMeasure>,
}

/// `[[site.check.measure]]`: a named value of the scrape.
#[derive(Debug, Clone)]
pub struct PromMeasure {
    /// Its name (the forecast's `measure`, the evidence's key).
    pub name: String,
    /// The expression as written.
    pub text: String,
    /// Compiled; its samples are summed.
    pub expr: Expr,
}

/// `[[site.check.condition]]`: an expression that, when any sample meets
/// it, is a finding of its severity.
#[derive(Debug, Clone)]
pub struct Condition {
    /// The expression as written (for messages and evidence).
    pub text: String,
    /// Compiled.
    pub expr: Comparison,
    /// `"crit"` makes the check Down, `"warn"` Degraded.
    pub critical: bool,
    /// What the finding says, before the series that met the condition.
    pub message: Option<String>,
}

/// The top of a condition: `left op right`.
#[derive(Debug, Clone)]
pub struct Comparison {
    /// The side whose samples are kept.
    pub left: Expr,
    /// How they compare.
    pub op: CmpOp,
    /// What they are compared with.
    pub right: Expr,
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `==`
    Eq,
    /// `!=`
    Ne,
}

impl CmpOp {
    /// Whether `a op b` holds.
    pub fn holds(self, a: f64, b: f64) -> bool {
        match self {
            CmpOp::Lt => a < b,
            CmpOp::Le => a <= b,
            CmpOp::Gt => a > b,
            CmpOp::Ge => a >= b,
            CmpOp::Eq => a == b,
            CmpOp::Ne => a != b,
        }
    }
}

/// An arithmetic operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArithOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
}

impl ArithOp {
    /// `a op b` (a division by zero is ±Inf or NaN, as in PromQL).
    pub fn apply(self, a: f64, b: f64) -> f64 {
        match self {
            ArithOp::Add => a + b,
            ArithOp::Sub => a - b,
            ArithOp::Mul => a * b,
            ArithOp::Div => a / b,
        }
    }
}

/// A function over the last two scrapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Func {
    /// Increase per second, a counter reset counted from zero.
    Rate,
    /// Difference.
    Delta,
}

/// An expression below the comparison.
#[derive(Debug, Clone)]
pub enum Expr {
    /// A number.
    Number(f64),
    /// The samples a selector picks.
    Select(Selector),
    /// `rate(..)` or `delta(..)` of a selector.
    Call(Func, Selector),
    /// `-x`
    Neg(Box<Expr>),
    /// `a op b`
    Arith(Box<Expr>, ArithOp, Box<Expr>),
}

impl Expr {
    /// Every selector inside `rate`/`delta` (whose previous samples a
    /// probe keeps).
    pub fn called_selectors(&self) -> Vec<&Selector> {
        match self {
            Expr::Number(_) | Expr::Select(_) => Vec::new(),
            Expr::Call(_, s) => vec![s],
            Expr::Neg(e) => e.called_selectors(),
            Expr::Arith(a, _, b) => {
                let mut all = a.called_selectors();
                all.extend(b.called_selectors());
                all
            }
        }
    }
}

/// `name{matchers}`
#[derive(Debug, Clone)]
pub struct Selector {
    /// The metric name.
    pub metric: String,
    /// What its labels must match.
    pub matchers: Vec<Matcher>,
}

impl Selector {
    /// Whether `labels` (name, value pairs) satisfy every matcher; a label
    /// that is absent is the empty string, as in PromQL.
    pub fn matches<'a>(&self, label: impl Fn(&str) -> Option<&'a str>) -> bool {
        self.matchers.iter().all(|m| {
            let value = label(&m.label).unwrap_or("");
            match &m.op {
                MatchOp::Equal => value == m.value,
                MatchOp::NotEqual => value != m.value,
                MatchOp::Regex(re) => re.is_match(value),
                MatchOp::NotRegex(re) => !re.is_match(value),
            }
        })
    }
}

/// `label op "value"`
#[derive(Debug, Clone)]
pub struct Matcher {
    /// The label's name.
    pub label: String,
    /// How it is matched.
    pub op: MatchOp,
    /// The value as written.
    pub value: String,
}

/// A label matcher's operator, a regex compiled anchored.
#[derive(Debug, Clone)]
pub enum MatchOp {
    /// `=`
    Equal,
    /// `!=`
    NotEqual,
    /// `=~`
    Regex(Regex),
    /// `!~`
    NotRegex(Regex),
}

/// A mistake in an expression: where (a byte offset into it) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExprError {
    /// Byte offset of the mistake in the expression.
    pub offset: usize,
    /// What is wrong.
    pub message: String,
}

/// Compiles a condition's expression.
pub fn compile(text: &str) -> Result<Comparison, ExprError> {
    let mut parser = Parser::of(text)?;
    let left = parser.additive()?;
    let (op, op_at) = match parser.peek() {
        Some((Token::Cmp(op), at)) => (*op, *at),
        Some((_, at)) => return Err(parser.unexpected(*at, "an operator or a comparison")),
        None => {
            return Err(ExprError {
                offset: text.len(),
                message: "a condition needs a comparison (< <= > >= == !=), e.g. `up == 0`".into(),
            });
        }
    };
    parser.at += 1;
    if parser.peek().is_none() {
        return Err(ExprError {
            offset: op_at,
            message: "nothing to compare with after the comparison".into(),
        });
    }
    let right = parser.additive()?;
    if let Some((_, at)) = parser.peek() {
        let at = *at;
        return Err(parser.unexpected(at, "the end (only one comparison is allowed)"));
    }
    Ok(Comparison { left, op, right })
}

/// Compiles an expression without a comparison, whose value is what is
/// wanted (a measured load: `rate(http_requests_total)`), not whether it
/// holds; `what` names it in the message of a comparison ("a load").
pub fn compile_value(text: &str, what: &str) -> Result<Expr, ExprError> {
    let mut parser = Parser::of(text)?;
    let value = parser.additive()?;
    match parser.peek() {
        None => Ok(value),
        Some((Token::Cmp(_), at)) => Err(ExprError {
            offset: *at,
            message: format!("{what} is a value, not a condition: leave the comparison out"),
        }),
        Some((_, at)) => {
            let at = *at;
            Err(parser.unexpected(at, "an operator or the end"))
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Number(f64),
    Str(String),
    Open,
    Close,
    OpenBrace,
    CloseBrace,
    Comma,
    Arith(ArithOp),
    Cmp(CmpOp),
    Match(&'static str),
}

impl Token {
    fn describe(&self) -> String {
        match self {
            Token::Ident(s) => format!("`{s}`"),
            Token::Number(n) => format!("the number {n}"),
            Token::Str(s) => format!("the string {s:?}"),
            Token::Open => "`(`".into(),
            Token::Close => "`)`".into(),
            Token::OpenBrace => "`{`".into(),
            Token::CloseBrace => "`}`".into(),
            Token::Comma => "`,`".into(),
            Token::Arith(_) => "an arithmetic operator".into(),
            Token::Cmp(_) => "a comparison".into(),
            Token::Match(m) => format!("`{m}`"),
        }
    }
}

fn lex(text: &str) -> Result<Vec<(Token, usize)>, ExprError> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    let err = |offset: usize, message: String| ExprError { offset, message };
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        let two = bytes.get(i..i + 2);
        let token = match c {
            b' ' | b'\t' | b'\n' | b'\r' => {
                i += 1;
                continue;
            }
            b'(' => Token::Open,
            b')' => Token::Close,
            b'{' => Token::OpenBrace,
            b'}' => Token::CloseBrace,
            b',' => Token::Comma,
            b'+' => Token::Arith(ArithOp::Add),
            b'-' => Token::Arith(ArithOp::Sub),
            b'*' => Token::Arith(ArithOp::Mul),
            b'/' => Token::Arith(ArithOp::Div),
            _ if two == Some(b"<=") => Token::Cmp(CmpOp::Le),
            _ if two == Some(b">=") => Token::Cmp(CmpOp::Ge),
            _ if two == Some(b"==") => Token::Cmp(CmpOp::Eq),
            _ if two == Some(b"!=") => Token::Cmp(CmpOp::Ne),
            _ if two == Some(b"=~") => Token::Match("=~"),
            _ if two == Some(b"!~") => Token::Match("!~"),
            b'<' => Token::Cmp(CmpOp::Lt),
            b'>' => Token::Cmp(CmpOp::Gt),
            b'=' => Token::Match("="),
            b'"' | b'\'' => {
                let (value, next) = string(text, i)?;
                tokens.push((Token::Str(value), start));
                i = next;
                continue;
            }
            b'0'..=b'9' | b'.' => {
                let mut end = i;
                while end < bytes.len()
                    && (bytes[end].is_ascii_digit()
                        || bytes[end] == b'.'
                        || matches!(bytes[end], b'e' | b'E')
                        || (matches!(bytes[end], b'+' | b'-')
                            && matches!(bytes[end - 1], b'e' | b'E')))
                {
                    end += 1;
                }
                let number = text[i..end]
                    .parse::<f64>()
                    .map_err(|_| err(i, format!("{:?} is not a number", &text[i..end])))?;
                tokens.push((Token::Number(number), start));
                i = end;
                continue;
            }
            c if c.is_ascii_alphabetic() || c == b'_' || c == b':' => {
                let mut end = i;
                while end < bytes.len()
                    && (bytes[end].is_ascii_alphanumeric() || matches!(bytes[end], b'_' | b':'))
                {
                    end += 1;
                }
                tokens.push((Token::Ident(text[i..end].to_owned()), start));
                i = end;
                continue;
            }
            _ => {
                let shown = text[i..].chars().next().unwrap_or('?');
                return Err(err(i, format!("unexpected character {shown:?}")));
            }
        };
        i += match token {
            Token::Cmp(CmpOp::Le | CmpOp::Ge | CmpOp::Eq | CmpOp::Ne) => 2,
            Token::Match("=~" | "!~") => 2,
            _ => 1,
        };
        tokens.push((token, start));
    }
    Ok(tokens)
}

/// A quoted string starting at `start`: its value and the offset after it.
fn string(text: &str, start: usize) -> Result<(String, usize), ExprError> {
    let quote = text.as_bytes()[start] as char;
    let mut value = String::new();
    let mut chars = text[start + 1..].char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            c if c == quote => return Ok((value, start + 1 + i + 1)),
            '\\' => match chars.next() {
                Some((_, 'n')) => value.push('\n'),
                Some((_, 't')) => value.push('\t'),
                Some((_, c)) => value.push(c),
                None => break,
            },
            c => value.push(c),
        }
    }
    Err(ExprError {
        offset: start,
        message: "the string is not closed".into(),
    })
}

struct Parser {
    tokens: Vec<(Token, usize)>,
    at: usize,
    end: usize,
    depth: usize,
}

impl Parser {
    /// A parser at the start of `text`, bounded and lexed.
    fn of(text: &str) -> Result<Self, ExprError> {
        if text.len() > MAX_EXPR_BYTES {
            return Err(ExprError {
                offset: MAX_EXPR_BYTES,
                message: format!("the expression is longer than {MAX_EXPR_BYTES} bytes"),
            });
        }
        Ok(Parser {
            tokens: lex(text)?,
            at: 0,
            end: text.len(),
            depth: 0,
        })
    }

    fn peek(&self) -> Option<&(Token, usize)> {
        self.tokens.get(self.at)
    }

    fn unexpected(&self, offset: usize, wanted: &str) -> ExprError {
        let found = self
            .tokens
            .iter()
            .find(|(_, at)| *at == offset)
            .map_or_else(|| "the end".to_owned(), |(t, _)| t.describe());
        ExprError {
            offset,
            message: format!("expected {wanted}, found {found}"),
        }
    }

    fn here(&self) -> usize {
        self.peek().map_or(self.end, |(_, at)| *at)
    }

    fn expect(&mut self, token: &Token, wanted: &str) -> Result<(), ExprError> {
        match self.peek() {
            Some((t, _)) if t == token => {
                self.at += 1;
                Ok(())
            }
            _ => Err(self.unexpected(self.here(), wanted)),
        }
    }

    fn nested(&mut self) -> Result<(), ExprError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ExprError {
                offset: self.here(),
                message: format!("nested deeper than {MAX_DEPTH} levels"),
            });
        }
        Ok(())
    }

    fn additive(&mut self) -> Result<Expr, ExprError> {
        let mut left = self.term()?;
        while let Some((Token::Arith(op @ (ArithOp::Add | ArithOp::Sub)), _)) = self.peek() {
            let op = *op;
            self.at += 1;
            let right = self.term()?;
            left = Expr::Arith(Box::new(left), op, Box::new(right));
        }
        Ok(left)
    }

    fn term(&mut self) -> Result<Expr, ExprError> {
        let mut left = self.unary()?;
        while let Some((Token::Arith(op @ (ArithOp::Mul | ArithOp::Div)), _)) = self.peek() {
            let op = *op;
            self.at += 1;
            let right = self.unary()?;
            left = Expr::Arith(Box::new(left), op, Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, ExprError> {
        if let Some((Token::Arith(ArithOp::Sub), _)) = self.peek() {
            self.at += 1;
            self.nested()?;
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(Expr::Neg(Box::new(inner)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, ExprError> {
        let Some((token, at)) = self.peek().cloned() else {
            return Err(self.unexpected(self.end, "a metric, a number or `(`"));
        };
        match token {
            Token::Number(n) => {
                self.at += 1;
                Ok(Expr::Number(n))
            }
            Token::Open => {
                self.at += 1;
                self.nested()?;
                let inner = self.additive()?;
                self.depth -= 1;
                self.expect(&Token::Close, "`)`")?;
                Ok(inner)
            }
            Token::Ident(name) if matches!(name.as_str(), "rate" | "delta") => {
                self.at += 1;
                let func = if name == "rate" {
                    Func::Rate
                } else {
                    Func::Delta
                };
                self.expect(&Token::Open, &format!("`(` after {name}"))?;
                let selector = match self.peek().cloned() {
                    Some((Token::Ident(metric), _)) => {
                        self.at += 1;
                        self.selector(metric)?
                    }
                    _ => {
                        return Err(self.unexpected(
                            self.here(),
                            &format!("a metric selector inside {name}()"),
                        ));
                    }
                };
                self.expect(&Token::Close, "`)`")?;
                Ok(Expr::Call(func, selector))
            }
            Token::Ident(name) if is_function_name(&name, self.tokens.get(self.at + 1)) => {
                Err(ExprError {
                    offset: at,
                    message: format!("unknown function {name}(); known: rate(), delta()"),
                })
            }
            Token::Ident(metric) => {
                self.at += 1;
                Ok(Expr::Select(self.selector(metric)?))
            }
            _ => Err(self.unexpected(at, "a metric, a number or `(`")),
        }
    }

    /// The optional `{...}` after a metric name.
    fn selector(&mut self, metric: String) -> Result<Selector, ExprError> {
        let mut matchers = Vec::new();
        if !matches!(self.peek(), Some((Token::OpenBrace, _))) {
            return Ok(Selector { metric, matchers });
        }
        self.at += 1;
        loop {
            match self.peek().cloned() {
                Some((Token::CloseBrace, _)) => {
                    self.at += 1;
                    break;
                }
                Some((Token::Ident(label), _)) => {
                    self.at += 1;
                    let (op, op_at) = match self.peek().cloned() {
                        Some((Token::Match(op), at)) => (op, at),
                        Some((Token::Cmp(CmpOp::Ne), at)) => ("!=", at),
                        _ => {
                            return Err(
                                self.unexpected(self.here(), "a label matcher (=, !=, =~ or !~)")
                            );
                        }
                    };
                    self.at += 1;
                    let value = match self.peek().cloned() {
                        Some((Token::Str(v), _)) => v,
                        _ => {
                            return Err(self.unexpected(self.here(), "a quoted label value"));
                        }
                    };
                    self.at += 1;
                    let regex = || {
                        regex::RegexBuilder::new(&format!("^(?:{value})$"))
                            .size_limit(1 << 20)
                            .build()
                            .map_err(|e| ExprError {
                                offset: op_at,
                                message: format!(
                                    "invalid regex {value:?}: {}",
                                    crate::load::first_line(&e.to_string())
                                ),
                            })
                    };
                    let op = match op {
                        "=" => MatchOp::Equal,
                        "!=" => MatchOp::NotEqual,
                        "=~" => MatchOp::Regex(regex()?),
                        _ => MatchOp::NotRegex(regex()?),
                    };
                    matchers.push(Matcher { label, op, value });
                    match self.peek() {
                        Some((Token::Comma, _)) => self.at += 1,
                        Some((Token::CloseBrace, _)) => {}
                        _ => return Err(self.unexpected(self.here(), "`,` or `}`")),
                    }
                }
                _ => return Err(self.unexpected(self.here(), "a label name or `}`")),
            }
        }
        Ok(Selector { metric, matchers })
    }
}

/// Whether an identifier followed by `(` was meant as a function.
fn is_function_name(_name: &str, next: Option<&(Token, usize)>) -> bool {
    matches!(next, Some((Token::Open, _)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCondition {
    expr: Spanned<String>,
    severity: Option<Spanned<String>>,
    message: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMeasure {
    name: Spanned<String>,
    expr: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPrometheusExtras {
    #[serde(default)]
    condition: Vec<Spanned<RawCondition>>,
    #[serde(default)]
    measure: Vec<Spanned<RawMeasure>>,
}

impl Loader<'_> {
    pub(crate) fn prometheus(
        &mut self,
        specific: Spanned<DeValue<'_>>,
        path: &str,
        defaults: &Defaults,
    ) -> Option<PrometheusSpec> {
        let span = specific.span();
        let (extra, rest) = Self::split_table(specific, PROMETHEUS_KEYS);
        let http = self.scrape_http(rest, path, defaults, PROMETHEUS_KEYS);
        let extra: RawPrometheusExtras = self.deserialize(extra, path, &[])?;
        let http = http?;
        if extra.condition.len() > MAX_CONDITIONS {
            self.rep.report(
                span,
                &format!("{path}.condition"),
                format!(
                    "{} conditions; at most {MAX_CONDITIONS}",
                    extra.condition.len()
                ),
                None,
            );
            return None;
        }
        let mut conditions = Vec::new();
        let mut ok = true;
        for (i, raw) in extra.condition.into_iter().enumerate() {
            let key = format!("{path}.condition[{i}]");
            let raw = raw.into_inner();
            let critical = match &raw.severity {
                None => true,
                Some(s) => match s.get_ref().as_str() {
                    "crit" => true,
                    "warn" => false,
                    other => {
                        self.rep.report(
                            s.span(),
                            &format!("{key}.severity"),
                            format!("unknown severity {other:?}"),
                            Some("write \"warn\" (Degraded) or \"crit\" (Down)".into()),
                        );
                        ok = false;
                        true
                    }
                },
            };
            let text = raw.expr.get_ref();
            match compile(text) {
                Ok(expr) => conditions.push(Condition {
                    text: text.clone(),
                    expr,
                    critical,
                    message: raw.message,
                }),
                Err(e) => {
                    self.expr_error(&raw.expr, &e, &format!("{key}.expr"));
                    ok = false;
                }
            }
        }
        let measures = self.prometheus_measures(extra.measure, span.clone(), path, &mut ok);
        if conditions.is_empty() && measures.is_empty() && ok {
            self.rep.report(
                span,
                &format!("{path}.condition"),
                "a prometheus check needs at least one [[site.check.condition]] (or a [[site.check.measure]] to forecast)",
                Some("e.g. expr = 'up == 0', severity = \"crit\"".into()),
            );
            return None;
        }
        ok.then_some(PrometheusSpec {
            http,
            conditions,
            measures,
        })
    }

    /// `[[site.check.measure]]`: names checked (unique, a metric-like name,
    /// not `latency`, which is every check's own), expressions compiled.
    fn prometheus_measures(
        &mut self,
        raw: Vec<Spanned<RawMeasure>>,
        span: std::ops::Range<usize>,
        path: &str,
        ok: &mut bool,
    ) -> Vec<PromMeasure> {
        if raw.len() > MAX_MEASURES {
            self.rep.report(
                span,
                &format!("{path}.measure"),
                format!("{} measures; at most {MAX_MEASURES}", raw.len()),
                None,
            );
            *ok = false;
            return Vec::new();
        }
        let mut measures: Vec<PromMeasure> = Vec::new();
        for (i, raw) in raw.into_iter().enumerate() {
            let key = format!("{path}.measure[{i}]");
            let raw = raw.into_inner();
            let name = raw.name.get_ref();
            let well_formed = !name.is_empty()
                && name.len() <= MAX_MEASURE_NAME
                && name.chars().enumerate().all(|(i, c)| {
                    c.is_ascii_alphabetic()
                        || c == '_'
                        || (i > 0 && (c.is_ascii_digit() || c == ':'))
                });
            let problem = if !well_formed {
                Some((
                    format!("{name:?} is not a measure name"),
                    format!(
                        "letters, digits, _ and : (not first), at most {MAX_MEASURE_NAME} bytes, e.g. name = \"orders_queue\""
                    ),
                ))
            } else if name == "latency" {
                Some((
                    "\"latency\" is every check's response time, not a measure of the scrape"
                        .to_owned(),
                    "give the measure another name".to_owned(),
                ))
            } else if measures.iter().any(|m| &m.name == name) {
                Some((
                    format!("measure {name:?} is declared twice"),
                    "give each measure its own name".to_owned(),
                ))
            } else {
                None
            };
            if let Some((message, hint)) = problem {
                self.rep
                    .report(raw.name.span(), &format!("{key}.name"), message, Some(hint));
                *ok = false;
                continue;
            }
            let text = raw.expr.get_ref();
            match compile_value(text, "a measure") {
                Ok(expr) => measures.push(PromMeasure {
                    name: name.clone(),
                    text: text.clone(),
                    expr,
                }),
                Err(e) => {
                    self.expr_error(&raw.expr, &e, &format!("{key}.expr"));
                    *ok = false;
                }
            }
        }
        measures
    }

    /// The HTTP keys of a scraped exposition (a prometheus check, a
    /// capacity source): every `kind = "http"` key but `extra`, asking for
    /// the text format (not protobuf or OpenMetrics) unless the
    /// configuration sets its own `Accept`.
    pub(crate) fn scrape_http(
        &mut self,
        rest: Spanned<DeValue<'_>>,
        path: &str,
        defaults: &Defaults,
        extra: &[&str],
    ) -> Option<HttpSpec> {
        let mut http = self.http_part(rest, path, defaults, extra)?;
        if !http
            .headers
            .iter()
            .any(|(n, _)| n == ::http::header::ACCEPT)
        {
            http.headers.push((
                ::http::header::ACCEPT,
                ::http::HeaderValue::from_static("text/plain;version=0.0.4"),
            ));
        }
        Some(http)
    }

    /// Reports `e`, a mistake in the expression written at `expr`, at its
    /// character (`key` names the setting).
    pub(crate) fn expr_error(&mut self, expr: &Spanned<String>, e: &ExprError, key: &str) {
        let text = expr.get_ref();
        let span = self.span_in_string(expr, e.offset);
        let column = text[..e.offset.min(text.len())].chars().count() + 1;
        self.rep.report(
            span,
            key,
            format!("at character {column} of the expression: {}", e.message),
            None,
        );
    }

    /// The position of byte `offset` of a string value in the source: exact
    /// when the value is written without escapes, its start otherwise.
    pub(crate) fn span_in_string(
        &self,
        value: &Spanned<String>,
        offset: usize,
    ) -> std::ops::Range<usize> {
        let span = value.span();
        let written = self.rep.source().get(span.clone()).unwrap_or_default();
        let inner = written
            .strip_prefix(['"', '\''])
            .and_then(|w| w.strip_suffix(['"', '\'']));
        if inner == Some(value.get_ref().as_str()) {
            let at = span.start + 1 + offset;
            at..at + 1
        } else {
            span
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> ExprError {
        match compile(text) {
            Ok(c) => panic!("{text:?} compiled: {c:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn selectors_arithmetic_and_functions_compile() {
        let c = compile(
            r#"node_filesystem_avail_bytes{mountpoint="/", fstype!~"tmpfs|ramfs"} / node_filesystem_size_bytes{mountpoint="/"} < 0.1"#,
        )
        .unwrap();
        assert_eq!(c.op, CmpOp::Lt);
        let Expr::Arith(left, ArithOp::Div, _) = &c.left else {
            panic!("{c:?}")
        };
        let Expr::Select(s) = &**left else {
            panic!("{left:?}")
        };
        assert_eq!(s.metric, "node_filesystem_avail_bytes");
        assert_eq!(s.matchers.len(), 2);
        let labels = |name: &str| match name {
            "mountpoint" => Some("/"),
            "fstype" => Some("ext4"),
            _ => None,
        };
        assert!(s.matches(labels));
        let tmp = |name: &str| match name {
            "mountpoint" => Some("/"),
            "fstype" => Some("tmpfs"),
            _ => None,
        };
        assert!(!s.matches(tmp));
        let c =
            compile("rate(http_requests_total{code=~'5..'}) * 60 > -1e3 + 2 * (3 - 1)").unwrap();
        assert_eq!(c.left.called_selectors().len(), 1);
        assert!(matches!(c.right, Expr::Arith(_, ArithOp::Add, _)));
    }

    #[test]
    fn mistakes_are_placed_where_they_are() {
        let e = err("up == ");
        assert_eq!(e.offset, 3);
        assert_eq!(e.message, "nothing to compare with after the comparison");
        let e = err("up");
        assert_eq!(e.offset, 2);
        assert!(e.message.starts_with("a condition needs a comparison"));
        let e = err(r#"up{job="a" instance="b"} == 0"#);
        assert_eq!(
            (e.offset, e.message.as_str()),
            (11, "expected `,` or `}`, found `instance`")
        );
        let e = err(r#"up{job=~"("} == 0"#);
        assert_eq!(e.offset, 6);
        assert!(e.message.starts_with("invalid regex \"(\""), "{e:?}");
        let e = err("sum(up) == 0");
        assert_eq!(e.message, "unknown function sum(); known: rate(), delta()");
        let e = err("up == 0 == 1");
        assert_eq!(e.offset, 8);
        let e = err("up # 1");
        assert_eq!(
            (e.offset, e.message.as_str()),
            (3, "unexpected character '#'")
        );
        let e = err(r#"up{job="x} == 0"#);
        assert_eq!(
            (e.offset, e.message.as_str()),
            (7, "the string is not closed")
        );
        let e = err(&format!("{}1{} > 0", "(".repeat(40), ")".repeat(40)));
        assert!(e.message.starts_with("nested deeper"), "{e:?}");
        let e = err("rate(5) > 1");
        assert_eq!(
            e.message,
            "expected a metric selector inside rate(), found the number 5"
        );
    }
}
