//! Checks of arguments and items: every problem is a spanned error naming the valid choices.

use std::collections::HashSet;

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{ImplItem, ItemFn, ItemImpl, LitStr};

use crate::attr::{AuthArg, ProcessorArgs, RouteArgs, push};
use crate::symbols;

/// A processor path: starts with `/`, no whitespace, query or fragment, parameters `{name}` well formed.
pub(crate) fn path(lit: &LitStr) -> syn::Result<()> {
    let p = lit.value();
    let err = |msg: String| Err(syn::Error::new(lit.span(), msg));
    if !p.starts_with('/') {
        return err(format!("`path` must start with `/`, as in \"/{}\"", p.trim_start_matches('/')));
    }
    if let Some(c) = p.chars().find(|c| c.is_whitespace() || matches!(c, '?' | '#')) {
        return err(format!("`path` must not contain {c:?}"));
    }
    let mut depth = 0;
    let mut name = String::new();
    for c in p.chars() {
        match c {
            '{' if depth == 0 => {
                depth = 1;
                name.clear();
            }
            '}' if depth == 1 => {
                depth = 0;
                let ok = !name.is_empty()
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    && !name.starts_with(|c: char| c.is_ascii_digit());
                if !ok {
                    return err(format!("path parameter `{{{name}}}` must be a name such as `{{source}}`"));
                }
            }
            '{' | '}' => return err("unbalanced `{` or `}` in `path`".into()),
            c if depth == 1 => name.push(c),
            _ => {}
        }
    }
    if depth != 0 {
        return err("unbalanced `{` or `}` in `path`".into());
    }
    Ok(())
}

/// Kinds: at least one, none empty, none repeated.
pub(crate) fn kinds(span: proc_macro2::Span, kinds: &[LitStr]) -> syn::Result<()> {
    if kinds.is_empty() {
        return Err(syn::Error::new(
            span,
            "`kinds` is empty; name at least one kind of the mapping, as in `kinds = [\"issue\"]`",
        ));
    }
    let mut seen = HashSet::new();
    let mut errors = None;
    for k in kinds {
        let v = k.value();
        if v.trim().is_empty() {
            push(&mut errors, syn::Error::new(k.span(), "a kind must not be empty"));
        } else if !seen.insert(v.clone()) {
            push(&mut errors, syn::Error::new(k.span(), format!("kind `{v}` is repeated")));
        }
    }
    errors.map_or(Ok(()), Err)
}

/// Arguments valid for any processor form.
pub(crate) fn common(a: &ProcessorArgs) -> syn::Result<()> {
    let mut errors = None;
    match &a.path {
        Some(p) => {
            if let Err(e) = path(p) {
                push(&mut errors, e);
            }
        }
        None => push(
            &mut errors,
            syn::Error::new(proc_macro2::Span::call_site(), "missing `path`: add `path = \"/webhook\"`"),
        ),
    }
    if let Some((span, ks)) = &a.kinds
        && let Err(e) = kinds(*span, ks)
    {
        push(&mut errors, e);
    }
    if let Some(b) = &a.exponential_base
        && b.value < 1.0
    {
        push(&mut errors, syn::Error::new(b.span, "`exponential_base` must be at least 1"));
    }
    if let (Some(i), Some(m)) = (&a.initial_retry_delay, &a.max_retry_delay)
        && i.value > m.value
    {
        push(&mut errors, syn::Error::new(i.span, "`initial_retry_delay` is larger than `max_retry_delay`"));
    }
    if let Some(g) = &a.group_by
        && g.value().trim().is_empty()
    {
        push(
            &mut errors,
            syn::Error::new(g.span(), "`group_by` is an empty jq expression; write one such as \".issue.id\""),
        );
    }
    if let Some(AuthArg::Verifier { scheme, options }) = &a.auth
        && let Err(e) = verifier(scheme, options)
    {
        push(&mut errors, e);
    }
    if let Some(g) = &a.group {
        if a.group_by.is_none() {
            push(
                &mut errors,
                syn::Error::new(
                    g.span(),
                    "`group` names the ordering space of `group_by` keys; add `group_by = \".issue.id\"`",
                ),
            );
        } else if g.value().trim().is_empty() {
            push(&mut errors, syn::Error::new(g.span(), "`group` is empty; name the space, as in `group = \"issue\"`"));
        }
    }
    if let Some(d) = &a.dedup {
        let name = d.to_string();
        if !symbols::DELIVERY_IDS.contains(&name.as_str()) {
            push(&mut errors, unknown(d.span(), "delivery-id source", &name, symbols::DELIVERY_IDS));
        }
    }
    errors.map_or(Ok(()), Err)
}

/// A route: its path, and its verifier when it names one.
pub(crate) fn route(a: &RouteArgs) -> syn::Result<()> {
    let mut errors = None;
    if let Err(e) = path(&a.path) {
        push(&mut errors, e);
    }
    match (&a.auth, a.insecure) {
        (Some(AuthArg::Verifier { scheme, options }), _) => {
            if let Err(e) = verifier(scheme, options) {
                push(&mut errors, e);
            }
        }
        (_, Some(span)) => push(
            &mut errors,
            syn::Error::new(
                span,
                "`insecure` lets a route start without its verifier's secret; name a verifier with `auth = ...`",
            ),
        ),
        _ => {}
    }
    errors.map_or(Ok(()), Err)
}

/// "unknown {what} `{given}`; expected one of: ..." with the closest name as a hint.
fn unknown(span: Span, what: &str, given: &str, names: &[&str]) -> syn::Error {
    let hint = symbols::closest(given, names).map(|n| format!(" (did you mean `{n}`?)")).unwrap_or_default();
    syn::Error::new(span, format!("unknown {what} `{given}`{hint}; expected one of: {}", symbols::list(names)))
}

/// A verifier of `ocean::auth` and options it takes, each with a value of the right kind.
fn verifier(scheme: &syn::Ident, options: &[(syn::Ident, Option<syn::Lit>)]) -> syn::Result<()> {
    let name = scheme.to_string();
    let names: Vec<&str> = symbols::VERIFIERS.iter().map(|v| v.name).collect();
    let Some(v) = symbols::VERIFIERS.iter().find(|v| v.name == name) else {
        return Err(unknown(scheme.span(), "verifier", &name, &names));
    };
    let valid: Vec<&str> = symbols::COMMON_OPTIONS.iter().chain(v.options).copied().collect();
    let mut errors = None;
    for (k, value) in options {
        let key = k.to_string();
        let e = if !valid.contains(&key.as_str()) {
            let hint = symbols::closest(&key, &valid).map(|n| format!(" (did you mean `{n}`?)")).unwrap_or_default();
            Some(syn::Error::new(
                k.span(),
                format!("the `{name}` verifier has no option `{key}`{hint}; its options: {}", symbols::list(&valid)),
            ))
        } else if symbols::FLAGS.contains(&key.as_str()) {
            match value {
                None | Some(syn::Lit::Bool(_)) => None,
                Some(l) => {
                    Some(syn::Error::new(l.span(), format!("`{key}` is a flag: write `{key}` or `{key} = true`")))
                }
            }
        } else if symbols::NUMBERS.contains(&key.as_str()) {
            match value {
                Some(syn::Lit::Int(_)) => None,
                _ => Some(syn::Error::new(k.span(), format!("`{key}` needs a number of seconds, as in `{key} = 300`"))),
            }
        } else {
            match value {
                Some(syn::Lit::Str(_)) => None,
                _ => Some(syn::Error::new(k.span(), format!("`{key}` needs a string, as in `{key} = \"...\"`"))),
            }
        };
        if let Some(e) = e {
            push(&mut errors, e);
        }
    }
    errors.map_or(Ok(()), Err)
}

/// The methods of `WebhookProcessor`, and whether each is async.
pub(crate) const METHODS: [(&str, bool); 12] = [
    ("should_process_event", true),
    ("get_matching_kinds", true),
    ("authenticate", true),
    ("validate_payload", true),
    ("handle_event", true),
    ("before_processing", true),
    ("after_processing", true),
    ("cancel", true),
    ("on_error", true),
    ("should_retry", false),
    ("group_key", false),
    ("retry_policy", false),
];

pub(crate) fn method_list() -> String {
    METHODS.iter().map(|(m, _)| format!("`{m}`")).collect::<Vec<_>>().join(", ")
}

fn no_auth_error(span: Span) -> syn::Error {
    syn::Error::new(
        span,
        "this processor has no authentication: write `async fn authenticate(&self, event: &WebhookEvent) -> Result<(), AuthError>`, name a verifier (`auth = github(secret = \"webhook_secret\")`), or opt out explicitly with `auth = none`",
    )
}

/// Checks an `impl` block against the arguments; returns whether it writes its own `authenticate`.
pub(crate) fn impl_block(a: &ProcessorArgs, imp: &ItemImpl) -> syn::Result<bool> {
    let mut errors = common(a).err();
    if let Some((_, path, _)) = &imp.trait_ {
        push(
            &mut errors,
            syn::Error::new_spanned(
                path,
                "write `impl MyProcessor { ... }`: the macro implements `ocean::WebhookProcessor` itself",
            ),
        );
    }
    if let Some(f) = &a.filter {
        push(
            &mut errors,
            syn::Error::new_spanned(
                f,
                "`filter` is for processors written as an `async fn`; on an `impl` block, write `should_process_event`",
            ),
        );
    }
    let mut names = Vec::new();
    for item in &imp.items {
        let ImplItem::Fn(f) = item else {
            push(
                &mut errors,
                syn::Error::new_spanned(
                    item,
                    format!("only methods of `WebhookProcessor` may appear here: {}", method_list()),
                ),
            );
            continue;
        };
        let name = f.sig.ident.to_string();
        match METHODS.iter().find(|(m, _)| *m == name) {
            None => push(
                &mut errors,
                syn::Error::new(
                    f.sig.ident.span(),
                    format!("`{name}` is not a method of `WebhookProcessor`; expected one of: {}", method_list()),
                ),
            ),
            Some((_, true)) if f.sig.asyncness.is_none() => push(
                &mut errors,
                syn::Error::new(f.sig.fn_token.span, format!("the `async` keyword is missing from `{name}`")),
            ),
            Some((_, false)) if f.sig.asyncness.is_some() => push(
                &mut errors,
                syn::Error::new(f.sig.asyncness.span(), format!("`{name}` is not async; remove `async`")),
            ),
            _ => {}
        }
        names.push(name);
    }
    let has = |m: &str| names.iter().any(|n| n == m);
    if !has("handle_event") {
        push(
            &mut errors,
            syn::Error::new(
                imp.self_ty.span(),
                "missing `async fn handle_event(&self, event: &WebhookEvent, resource: &ResourceConfig) -> Result<WebhookEventRawResults, ProcessorError>`",
            ),
        );
    }
    match (&a.kinds, has("get_matching_kinds")) {
        (None, false) => push(
            &mut errors,
            syn::Error::new(
                Span::call_site(),
                "missing `kinds`: add `kinds = [\"issue\"]`, or write `get_matching_kinds`",
            ),
        ),
        (Some((span, _)), true) => {
            push(&mut errors, syn::Error::new(*span, "`kinds` and `get_matching_kinds` are both given; keep one"))
        }
        _ => {}
    }
    let retry = a.max_retries.is_some()
        || a.initial_retry_delay.is_some()
        || a.max_retry_delay.is_some()
        || a.exponential_base.is_some();
    if retry && has("retry_policy") {
        push(
            &mut errors,
            syn::Error::new(Span::call_site(), "retry arguments and `retry_policy` are both given; keep one"),
        );
    }
    let custom_auth = has("authenticate");
    if a.auth.is_none() && !custom_auth {
        push(&mut errors, no_auth_error(imp.self_ty.span()));
    }
    if matches!(a.auth, Some(AuthArg::None(_))) && custom_auth {
        push(
            &mut errors,
            syn::Error::new(Span::call_site(), "`auth = none` and `authenticate` are both given; keep one"),
        );
    }
    errors.map_or(Ok(custom_auth), Err)
}

/// Checks a processor function against the arguments.
pub(crate) fn function(a: &ProcessorArgs, f: &ItemFn) -> syn::Result<()> {
    let mut errors = common(a).err();
    if f.sig.asyncness.is_none() {
        push(
            &mut errors,
            syn::Error::new(f.sig.fn_token.span, "the `async` keyword is missing from the function declaration"),
        );
    }
    if f.sig.inputs.len() != 2 {
        push(
            &mut errors,
            syn::Error::new(
                f.sig.paren_token.span.join(),
                "a processor function takes `(event: &WebhookEvent, resource: &ResourceConfig)` and returns `Result<WebhookEventRawResults, ProcessorError>`",
            ),
        );
    }
    if a.kinds.is_none() {
        push(&mut errors, syn::Error::new(Span::call_site(), "missing `kinds`: add `kinds = [\"issue\"]`"));
    }
    if let Some(i) = &a.init {
        push(&mut errors, syn::Error::new_spanned(i, "`init` is for processors written as an `impl` block"));
    }
    if a.auth.is_none() {
        push(
            &mut errors,
            syn::Error::new(
                f.sig.ident.span(),
                "this processor has no authentication: name a verifier (`auth = github(secret = \"webhook_secret\")`) or opt out explicitly with `auth = none`",
            ),
        );
    }
    errors.map_or(Ok(()), Err)
}
