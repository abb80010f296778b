//! Code generation: calls on the runtime's builder API, registered with `inventory`.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{ImplItem, Item, ItemFn, ItemImpl, LitStr};

use crate::attr::{AuthArg, ProcessorArgs, RouteArgs, push};
use crate::valid;

fn debug(name: &str, out: &TokenStream) {
    if std::env::var_os("OCEAN_MACROS_DEBUG").is_some() {
        eprintln!("--- #[ocean::{name}] ---\n{out}");
    }
}

/// The item unchanged plus the errors, so one mistake does not cascade into others.
fn with_errors(item: TokenStream, e: syn::Error) -> TokenStream {
    let errors = e.to_compile_error();
    quote! { #item #errors }
}

pub(crate) fn processor(args: TokenStream, item: TokenStream) -> TokenStream {
    let parsed: syn::Result<ProcessorArgs> = syn::parse2(args);
    let item_parsed: syn::Result<Item> = syn::parse2(item.clone());
    let out = match (parsed, item_parsed) {
        (Err(e), _) => with_errors(item, e),
        (Ok(_), Err(e)) => with_errors(item, e),
        (Ok(a), Ok(Item::Impl(imp))) => processor_impl(&a, imp).unwrap_or_else(|e| with_errors(item, e)),
        (Ok(a), Ok(Item::Fn(f))) => processor_fn(&a, f).unwrap_or_else(|e| with_errors(item, e)),
        (Ok(_), Ok(other)) => with_errors(
            item,
            syn::Error::new(
                item_span(&other),
                "`#[ocean::webhook_processor]` goes on an `impl` block of a processor type or on an `async fn`",
            ),
        ),
    };
    debug("webhook_processor", &out);
    out
}

fn item_span(item: &Item) -> Span {
    match item {
        Item::Struct(s) => s.struct_token.span,
        Item::Enum(e) => e.enum_token.span,
        Item::Trait(t) => t.trait_token.span,
        Item::Mod(m) => m.mod_token.span,
        other => other.span(),
    }
}

fn retry_policy(a: &ProcessorArgs) -> Option<TokenStream> {
    if a.max_retries.is_none()
        && a.initial_retry_delay.is_none()
        && a.max_retry_delay.is_none()
        && a.exponential_base.is_none()
    {
        return None;
    }
    let mut fields = Vec::new();
    if let Some(n) = &a.max_retries {
        fields.push(quote! { p.max_retries = #n; });
    }
    if let Some(s) = &a.initial_retry_delay {
        let v = s.value;
        fields.push(quote! { p.initial_retry_delay = ::core::time::Duration::from_secs_f64(#v); });
    }
    if let Some(s) = &a.max_retry_delay {
        let v = s.value;
        fields.push(quote! { p.max_retry_delay = ::core::time::Duration::from_secs_f64(#v); });
    }
    if let Some(s) = &a.exponential_base {
        let v = s.value;
        fields.push(quote! { p.exponential_base = #v; });
    }
    Some(quote! {
        fn retry_policy(&self) -> ::ocean::__private::RetryPolicy {
            let mut p = <::ocean::__private::RetryPolicy as ::core::default::Default>::default();
            #(#fields)*
            p
        }
    })
}

fn kinds_method(kinds: &[LitStr]) -> TokenStream {
    quote! {
        async fn get_matching_kinds(&self, _event: &::ocean::__private::WebhookEvent) -> ::std::vec::Vec<::std::string::String> {
            ::std::vec![#(::std::string::String::from(#kinds)),*]
        }
    }
}

/// `.auth(...)`, `.no_auth()`, `.insecure()`, `.group_by(...)`, `.name(...)` on the registration.
fn registration_calls(a: &ProcessorArgs, custom_auth: bool) -> TokenStream {
    let mut calls = Vec::new();
    if let Some(n) = &a.name {
        calls.push(quote! { .name(#n) });
    }
    match &a.auth {
        Some(AuthArg::None(span)) => calls.push(quote_spanned! {*span=> .no_auth() }),
        Some(AuthArg::Verifier { scheme, options }) => {
            let opts = options.iter().map(|(k, v)| match v {
                Some(v) => quote! { .#k(#v) },
                None => quote! { .#k(true) },
            });
            calls.push(quote! { .auth(::ocean::__private::auth::#scheme() #(#opts)*) });
            if custom_auth {
                calls.push(quote! { .with_custom_auth() });
            }
        }
        None => {}
    }
    if a.insecure.is_some() {
        calls.push(quote! { .insecure() });
    }
    if let Some(g) = &a.group_by {
        calls.push(quote! { .group_by(#g) });
    }
    if let Some(d) = &a.dedup {
        calls.push(quote! { .dedup(::ocean::__private::delivery::#d()) });
    }
    quote! { #(#calls)* }
}

fn no_auth_error(span: Span) -> syn::Error {
    syn::Error::new(
        span,
        "this processor has no authentication: write `async fn authenticate(&self, event: &WebhookEvent) -> Result<(), AuthError>`, name a verifier (`auth = github(secret = \"webhook_secret\")`), or opt out explicitly with `auth = none`",
    )
}

fn processor_impl(a: &ProcessorArgs, mut imp: ItemImpl) -> syn::Result<TokenStream> {
    let mut errors = valid::common(a).err();
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
                    format!("only methods of `WebhookProcessor` may appear here: {}", valid::method_list()),
                ),
            );
            continue;
        };
        let name = f.sig.ident.to_string();
        match valid::METHODS.iter().find(|(m, _)| *m == name) {
            None => push(
                &mut errors,
                syn::Error::new(
                    f.sig.ident.span(),
                    format!(
                        "`{name}` is not a method of `WebhookProcessor`; expected one of: {}",
                        valid::method_list()
                    ),
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
    let retry = retry_policy(a);
    if retry.is_some() && has("retry_policy") {
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
    if let Some(e) = errors {
        return Err(e);
    }
    if let Some((_, kinds)) = &a.kinds {
        imp.items.push(syn::parse2(kinds_method(kinds))?);
    }
    if let Some(r) = retry {
        imp.items.push(syn::parse2(r)?);
    }
    let path = a.path.as_ref().map(|p| p.value()).unwrap_or_default();
    let self_ty = &imp.self_ty;
    let (impl_generics, _, where_clause) = imp.generics.split_for_impl();
    let items = &imp.items;
    let attrs = &imp.attrs;
    let constructor = match &a.init {
        Some(init) => quote_spanned! {init.span()=> ::ocean::__private::Processor::new::<#self_ty, _>(#path, #init) },
        None => quote_spanned! {self_ty.span()=> ::ocean::__private::Processor::of::<#self_ty>(#path) },
    };
    let calls = registration_calls(a, custom_auth);
    let name = quote!(#self_ty).to_string().replace(' ', "");
    let name = if a.name.is_some() {
        quote!()
    } else {
        quote! { .name(#name) }
    };
    Ok(quote! {
        #(#attrs)*
        impl #impl_generics ::ocean::__private::WebhookProcessor for #self_ty #where_clause {
            #(#items)*
        }
        #[doc(hidden)]
        #[allow(non_upper_case_globals, clippy::all)]
        const _: () = {
            fn __ocean_register() -> ::ocean::__private::Processor {
                #constructor #name #calls
            }
            ::ocean::__private::inventory::submit! {
                ::ocean::__private::Registered::Processor(__ocean_register)
            }
        };
    })
}

fn processor_fn(a: &ProcessorArgs, f: ItemFn) -> syn::Result<TokenStream> {
    let mut errors = valid::common(a).err();
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
    if let Some(e) = errors {
        return Err(e);
    }
    let fn_name = &f.sig.ident;
    let ty = format_ident!("__OceanProcessor_{}", fn_name);
    let kinds = kinds_method(&a.kinds.as_ref().map(|(_, k)| k.clone()).unwrap_or_default());
    let retry = retry_policy(a).unwrap_or_default();
    let filter = a.filter.as_ref().map(|p| {
        quote_spanned! {p.span()=>
            async fn should_process_event(&self, event: &::ocean::__private::WebhookEvent) -> bool {
                #p(event)
            }
        }
    });
    let path = a.path.as_ref().map(|p| p.value()).unwrap_or_default();
    let calls = registration_calls(a, false);
    let name = fn_name.to_string();
    let name = if a.name.is_some() {
        quote!()
    } else {
        quote! { .name(#name) }
    };
    let output = match &f.sig.output {
        syn::ReturnType::Type(_, t) => t.span(),
        syn::ReturnType::Default => f.sig.ident.span(),
    };
    let call = quote_spanned! {output=> #fn_name(event, resource).await };
    Ok(quote! {
        #f
        #[doc(hidden)]
        #[allow(non_camel_case_types)]
        #[derive(Default)]
        struct #ty;
        #[doc(hidden)]
        #[allow(clippy::all)]
        impl ::ocean::__private::WebhookProcessor for #ty {
            #kinds
            #retry
            #filter
            async fn handle_event(
                &self,
                event: &::ocean::__private::WebhookEvent,
                resource: &::ocean::__private::ResourceConfig,
            ) -> ::core::result::Result<::ocean::__private::WebhookEventRawResults, ::ocean::__private::ProcessorError> {
                #call
            }
        }
        #[doc(hidden)]
        #[allow(non_upper_case_globals, clippy::all)]
        const _: () = {
            fn __ocean_register() -> ::ocean::__private::Processor {
                ::ocean::__private::Processor::of::<#ty>(#path) #name #calls
            }
            ::ocean::__private::inventory::submit! {
                ::ocean::__private::Registered::Processor(__ocean_register)
            }
        };
    })
}

pub(crate) fn on_start(args: TokenStream, item: TokenStream) -> TokenStream {
    let out = (|| -> syn::Result<TokenStream> {
        if !args.is_empty() {
            return Err(syn::Error::new_spanned(&args, "`#[ocean::on_start]` takes no arguments"));
        }
        let f: ItemFn = syn::parse2(item.clone()).map_err(|e| {
            syn::Error::new(e.span(), "`#[ocean::on_start]` goes on an `async fn`, optionally taking `ocean::Context`")
        })?;
        if f.sig.asyncness.is_none() {
            return Err(syn::Error::new(
                f.sig.fn_token.span,
                "the `async` keyword is missing from the function declaration",
            ));
        }
        let name = &f.sig.ident;
        let name_str = name.to_string();
        let call = match f.sig.inputs.len() {
            0 => quote_spanned! {f.sig.output.span()=> #name().await },
            1 => quote_spanned! {f.sig.output.span()=> #name(ctx).await },
            _ => {
                return Err(syn::Error::new(
                    f.sig.paren_token.span.join(),
                    "a start hook takes no argument or one `ocean::Context`",
                ));
            }
        };
        let ctx_use = if f.sig.inputs.is_empty() {
            quote! { let _ = ctx; }
        } else {
            quote!()
        };
        Ok(quote! {
            #f
            #[doc(hidden)]
            #[allow(non_upper_case_globals, clippy::all)]
            const _: () = {
                fn __ocean_register() -> ::ocean::__private::OnStart {
                    ::ocean::__private::OnStart::new(#name_str, |ctx: ::ocean::__private::Context| async move {
                        #ctx_use
                        ::ocean::__private::IntoStartResult::into_start_result(#call)
                    })
                }
                ::ocean::__private::inventory::submit! {
                    ::ocean::__private::Registered::OnStart(__ocean_register)
                }
            };
        })
    })()
    .unwrap_or_else(|e| with_errors(item, e));
    debug("on_start", &out);
    out
}

pub(crate) fn route(args: TokenStream, item: TokenStream) -> TokenStream {
    let out = (|| -> syn::Result<TokenStream> {
        let a: RouteArgs = syn::parse2(args)?;
        valid::path(&a.path)?;
        let f: ItemFn = syn::parse2(item.clone())
            .map_err(|e| syn::Error::new(e.span(), "`#[ocean::route]` goes on an `async fn` handler"))?;
        if f.sig.asyncness.is_none() {
            return Err(syn::Error::new(
                f.sig.fn_token.span,
                "the `async` keyword is missing from the function declaration",
            ));
        }
        let name = &f.sig.ident;
        let method = format_ident!("{}", a.method.to_string().to_uppercase(), span = a.method.span());
        let path = &a.path;
        Ok(quote! {
            #f
            #[doc(hidden)]
            #[allow(non_upper_case_globals, clippy::all)]
            const _: () = {
                fn __ocean_register() -> ::ocean::__private::Route {
                    ::ocean::__private::Route::new(::ocean::__private::Method::#method, #path, #name)
                }
                ::ocean::__private::inventory::submit! {
                    ::ocean::__private::Registered::Route(__ocean_register)
                }
            };
        })
    })()
    .unwrap_or_else(|e| with_errors(item, e));
    debug("route", &out);
    out
}
