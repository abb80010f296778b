//! Parsing of macro arguments into typed values that keep their spans.

use proc_macro2::Span;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Ident, LitFloat, LitInt, LitStr, Path, Token, bracketed, parenthesized};

use crate::symbols;

pub(crate) mod kw {
    syn::custom_keyword!(path);
    syn::custom_keyword!(kinds);
    syn::custom_keyword!(auth);
    syn::custom_keyword!(insecure);
    syn::custom_keyword!(group_by);
    syn::custom_keyword!(group);
    syn::custom_keyword!(max_retries);
    syn::custom_keyword!(initial_retry_delay);
    syn::custom_keyword!(max_retry_delay);
    syn::custom_keyword!(exponential_base);
    syn::custom_keyword!(init);
    syn::custom_keyword!(filter);
    syn::custom_keyword!(name);
    syn::custom_keyword!(none);
    syn::custom_keyword!(dedup);
}

/// A number of seconds written as an integer or a float literal.
#[derive(Clone)]
pub(crate) struct Seconds {
    pub(crate) value: f64,
    pub(crate) span: Span,
}

impl Parse for Seconds {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let la = input.lookahead1();
        if la.peek(LitFloat) {
            let l: LitFloat = input.parse()?;
            Ok(Self { value: l.base10_parse()?, span: l.span() })
        } else if la.peek(LitInt) {
            let l: LitInt = input.parse()?;
            Ok(Self { value: l.base10_parse::<u64>()? as f64, span: l.span() })
        } else {
            Err(la.error())
        }
    }
}

/// `none`, or `scheme(key = value, flag, ...)`.
#[derive(Clone)]
pub(crate) enum AuthArg {
    None(Span),
    Verifier { scheme: Ident, options: Vec<(Ident, Option<syn::Lit>)> },
}

impl Parse for AuthArg {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        if input.peek(kw::none) {
            let k: kw::none = input.parse()?;
            return Ok(Self::None(k.span));
        }
        let scheme: Ident = input.parse().map_err(|e| {
            syn::Error::new(e.span(), "expected a verifier such as `github(secret = \"webhook_secret\")`, or `none`")
        })?;
        let mut options = Vec::new();
        if input.peek(syn::token::Paren) {
            let content;
            parenthesized!(content in input);
            while !content.is_empty() {
                let key: Ident = content.call(syn::ext::IdentExt::parse_any)?;
                let value = if content.peek(Token![=]) {
                    content.parse::<Token![=]>()?;
                    Some(content.parse::<syn::Lit>()?)
                } else {
                    None
                };
                options.push((key, value));
                if content.is_empty() {
                    break;
                }
                content.parse::<Token![,]>()?;
            }
        }
        Ok(Self::Verifier { scheme, options })
    }
}

/// The arguments of `#[webhook_processor]`, each with the keyword's span.
#[derive(Default)]
pub(crate) struct ProcessorArgs {
    pub(crate) path: Option<LitStr>,
    pub(crate) kinds: Option<(Span, Vec<LitStr>)>,
    pub(crate) auth: Option<AuthArg>,
    pub(crate) insecure: Option<Span>,
    pub(crate) group_by: Option<LitStr>,
    /// `group = "issue"`: the ordering space of `group_by` keys, shared by processors that name it.
    pub(crate) group: Option<LitStr>,
    pub(crate) dedup: Option<Ident>,
    pub(crate) max_retries: Option<LitInt>,
    pub(crate) initial_retry_delay: Option<Seconds>,
    pub(crate) max_retry_delay: Option<Seconds>,
    pub(crate) exponential_base: Option<Seconds>,
    pub(crate) init: Option<Path>,
    pub(crate) filter: Option<Path>,
    pub(crate) name: Option<LitStr>,
    /// `crate = "path::to::ocean"`: where the runtime is, for crates that re-export it.
    pub(crate) krate: Option<Path>,
}

fn set<T>(slot: &mut Option<T>, value: T, span: Span, key: &str, errors: &mut Option<syn::Error>) {
    if slot.is_some() {
        push(errors, syn::Error::new(span, format!("`{key}` is given more than once")));
    } else {
        *slot = Some(value);
    }
}

pub(crate) fn push(errors: &mut Option<syn::Error>, e: syn::Error) {
    match errors {
        Some(all) => all.combine(e),
        None => *errors = Some(e),
    }
}

impl Parse for ProcessorArgs {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut a = Self::default();
        let mut errors = None;
        while !input.is_empty() {
            let la = input.lookahead1();
            if la.peek(kw::path) {
                let k: kw::path = input.parse()?;
                input.parse::<Token![=]>()?;
                let v = input.parse()?;
                set(&mut a.path, v, k.span, "path", &mut errors);
            } else if la.peek(kw::kinds) {
                let k: kw::kinds = input.parse()?;
                input.parse::<Token![=]>()?;
                let content;
                bracketed!(content in input);
                let list: Punctuated<LitStr, Token![,]> = content.parse_terminated(|s| s.parse(), Token![,])?;
                set(&mut a.kinds, (k.span, list.into_iter().collect()), k.span, "kinds", &mut errors);
            } else if la.peek(kw::auth) {
                let k: kw::auth = input.parse()?;
                input.parse::<Token![=]>()?;
                let v = input.parse()?;
                set(&mut a.auth, v, k.span, "auth", &mut errors);
            } else if la.peek(kw::insecure) {
                let k: kw::insecure = input.parse()?;
                set(&mut a.insecure, k.span, k.span, "insecure", &mut errors);
            } else if la.peek(kw::group_by) {
                let k: kw::group_by = input.parse()?;
                input.parse::<Token![=]>()?;
                let v = input.parse()?;
                set(&mut a.group_by, v, k.span, "group_by", &mut errors);
            } else if la.peek(kw::group) {
                let k: kw::group = input.parse()?;
                input.parse::<Token![=]>()?;
                let v = input.parse()?;
                set(&mut a.group, v, k.span, "group", &mut errors);
            } else if la.peek(kw::dedup) {
                let k: kw::dedup = input.parse()?;
                input.parse::<Token![=]>()?;
                let v: Ident = input.call(syn::ext::IdentExt::parse_any)?;
                set(&mut a.dedup, v, k.span, "dedup", &mut errors);
            } else if la.peek(kw::max_retries) {
                let k: kw::max_retries = input.parse()?;
                input.parse::<Token![=]>()?;
                let v = input.parse()?;
                set(&mut a.max_retries, v, k.span, "max_retries", &mut errors);
            } else if la.peek(kw::initial_retry_delay) {
                let k: kw::initial_retry_delay = input.parse()?;
                input.parse::<Token![=]>()?;
                let v = input.parse()?;
                set(&mut a.initial_retry_delay, v, k.span, "initial_retry_delay", &mut errors);
            } else if la.peek(kw::max_retry_delay) {
                let k: kw::max_retry_delay = input.parse()?;
                input.parse::<Token![=]>()?;
                let v = input.parse()?;
                set(&mut a.max_retry_delay, v, k.span, "max_retry_delay", &mut errors);
            } else if la.peek(kw::exponential_base) {
                let k: kw::exponential_base = input.parse()?;
                input.parse::<Token![=]>()?;
                let v = input.parse()?;
                set(&mut a.exponential_base, v, k.span, "exponential_base", &mut errors);
            } else if la.peek(kw::init) {
                let k: kw::init = input.parse()?;
                input.parse::<Token![=]>()?;
                let v = input.parse()?;
                set(&mut a.init, v, k.span, "init", &mut errors);
            } else if la.peek(kw::filter) {
                let k: kw::filter = input.parse()?;
                input.parse::<Token![=]>()?;
                let v = input.parse()?;
                set(&mut a.filter, v, k.span, "filter", &mut errors);
            } else if la.peek(kw::name) {
                let k: kw::name = input.parse()?;
                input.parse::<Token![=]>()?;
                let v = input.parse()?;
                set(&mut a.name, v, k.span, "name", &mut errors);
            } else if input.peek(Token![crate]) {
                let k: Token![crate] = input.parse()?;
                input.parse::<Token![=]>()?;
                let lit: LitStr = input.parse()?;
                let path: Path = lit.parse().map_err(|_| {
                    syn::Error::new(lit.span(), "`crate` is a path to the runtime, as in `crate = \"my_sdk::ocean\"`")
                })?;
                set(&mut a.krate, path, k.span, "crate", &mut errors);
            } else if input.peek(Ident) {
                let unknown: Ident = input.call(syn::ext::IdentExt::parse_any)?;
                let given = unknown.to_string();
                let hint = symbols::HINTS
                    .iter()
                    .find(|(slip, _)| *slip == given)
                    .map(|(_, meant)| *meant)
                    .or_else(|| symbols::closest(&given, symbols::PROCESSOR_ARGS))
                    .map(|m| format!(" (did you mean `{m}`?)"))
                    .unwrap_or_default();
                return Err(syn::Error::new(
                    unknown.span(),
                    format!(
                        "unknown argument `{unknown}`{hint}; expected one of: {}",
                        symbols::list(symbols::PROCESSOR_ARGS)
                    ),
                ));
            } else {
                return Err(la.error());
            }
            if input.is_empty() {
                break;
            }
            input.parse::<Token![,]>()?;
        }
        match errors {
            Some(e) => Err(e),
            None => Ok(a),
        }
    }
}

/// The arguments of `#[route(method, "/path", auth = ..., insecure)]`.
pub(crate) struct RouteArgs {
    pub(crate) method: Ident,
    pub(crate) path: LitStr,
    pub(crate) auth: Option<AuthArg>,
    pub(crate) insecure: Option<Span>,
}

pub(crate) const METHODS: [&str; 7] = ["get", "post", "put", "patch", "delete", "head", "options"];

/// The arguments a route takes after its method and path.
pub(crate) const ROUTE_ARGS: &[&str] = &["auth", "insecure"];

impl Parse for RouteArgs {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        if input.is_empty() {
            return Err(syn::Error::new(
                Span::call_site(),
                "expected a method and a path: `#[ocean::route(post, \"/webhook\")]`",
            ));
        }
        let method: Ident = input.call(syn::ext::IdentExt::parse_any)?;
        if !METHODS.contains(&method.to_string().as_str()) {
            return Err(syn::Error::new(
                method.span(),
                format!(
                    "unknown method `{method}`; expected one of: `get`, `post`, `put`, `patch`, `delete`, `head`, `options`"
                ),
            ));
        }
        input.parse::<Token![,]>()?;
        let path: LitStr = input.parse()?;
        let mut a = Self { method, path, auth: None, insecure: None };
        let mut errors = None;
        while !input.is_empty() {
            input.parse::<Token![,]>()?;
            if input.is_empty() {
                break;
            }
            if input.peek(kw::auth) {
                let k: kw::auth = input.parse()?;
                input.parse::<Token![=]>()?;
                let v = input.parse()?;
                set(&mut a.auth, v, k.span, "auth", &mut errors);
            } else if input.peek(kw::insecure) {
                let k: kw::insecure = input.parse()?;
                set(&mut a.insecure, k.span, k.span, "insecure", &mut errors);
            } else {
                let unknown: Ident = input.call(syn::ext::IdentExt::parse_any)?;
                let hint = symbols::closest(&unknown.to_string(), ROUTE_ARGS)
                    .map(|m| format!(" (did you mean `{m}`?)"))
                    .unwrap_or_default();
                return Err(syn::Error::new(
                    unknown.span(),
                    format!(
                        "unknown argument `{unknown}`{hint}; after its method and path a route takes: {}",
                        symbols::list(ROUTE_ARGS)
                    ),
                ));
            }
        }
        match errors {
            Some(e) => Err(e),
            None => Ok(a),
        }
    }
}

/// The arguments of `#[on_resync(kind = "...", name = "...")]`.
pub(crate) struct ResyncArgs {
    pub(crate) kind: LitStr,
    pub(crate) name: Option<LitStr>,
}

/// The arguments a resync function takes.
pub(crate) const RESYNC_ARGS: &[&str] = &["kind", "name"];

impl Parse for ResyncArgs {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let (mut kind, mut name) = (None, None);
        let mut errors = None;
        while !input.is_empty() {
            let key: Ident = input.call(syn::ext::IdentExt::parse_any)?;
            let slot = match key.to_string().as_str() {
                "kind" => &mut kind,
                "name" => &mut name,
                other => {
                    let hint = symbols::closest(other, RESYNC_ARGS)
                        .or(if other == "kinds" { Some("kind") } else { None })
                        .map(|m| format!(" (did you mean `{m}`?)"))
                        .unwrap_or_default();
                    return Err(syn::Error::new(
                        key.span(),
                        format!(
                            "unknown argument `{key}`{hint}; a resync function takes: {}",
                            symbols::list(RESYNC_ARGS)
                        ),
                    ));
                }
            };
            input.parse::<Token![=]>()?;
            let value: LitStr = input.parse()?;
            if value.value().is_empty() {
                push(&mut errors, syn::Error::new(value.span(), format!("`{key}` must not be empty")));
            }
            set(slot, value, key.span(), &key.to_string(), &mut errors);
            if input.is_empty() {
                break;
            }
            input.parse::<Token![,]>()?;
        }
        if let Some(e) = errors {
            return Err(e);
        }
        let kind = kind.ok_or_else(|| {
            syn::Error::new(
                Span::call_site(),
                "a resync function needs its kind: `#[ocean::on_resync(kind = \"repository\")]`",
            )
        })?;
        Ok(Self { kind, name })
    }
}
