//! Checks of arguments and items: every problem is a spanned error naming the valid choices.

use std::collections::HashSet;

use syn::LitStr;

use crate::attr::{ProcessorArgs, push};

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
    if let Some(crate::attr::AuthArg::Verifier { options, .. }) = &a.auth {
        for (k, v) in options {
            let known = [
                "secret",
                "secret_value",
                "header",
                "algorithm",
                "encoding",
                "prefix",
                "tolerance_secs",
                "legacy_sha1",
            ];
            if !known.contains(&k.to_string().as_str()) {
                push(
                    &mut errors,
                    syn::Error::new(
                        k.span(),
                        format!(
                            "unknown verifier option `{k}`; expected one of: `secret`, `secret_value`, `header`, `algorithm`, `encoding`, `prefix`, `tolerance_secs`, `legacy_sha1`"
                        ),
                    ),
                );
            } else if v.is_none() && k != "legacy_sha1" {
                push(&mut errors, syn::Error::new(k.span(), format!("`{k}` needs a value, as in `{k} = \"...\"`")));
            }
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
