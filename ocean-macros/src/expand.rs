//! Code generation: calls on the runtime's builder API, registered with `inventory`.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Item, ItemFn, ItemImpl, LitStr};

use crate::attr::{AuthArg, ProcessorArgs, ResyncArgs, RouteArgs};
use crate::valid;

fn debug(name: &str, out: &TokenStream) {
    if std::env::var_os("OCEAN_MACROS_DEBUG").is_some() {
        eprintln!("--- #[ocean::{name}] ---\n{out}");
    }
}

/// The runtime's support module: `::ocean::__private`, or under the path given by `crate = "..."`.
fn private(krate: Option<&syn::Path>) -> TokenStream {
    match krate {
        Some(k) => quote! { #k::__private },
        None => quote! { ::ocean::__private },
    }
}

/// Registers the item with `inventory`: `body` builds the registration of type `#p::#ty`.
fn register(p: &TokenStream, variant: &str, ty: &str, body: TokenStream) -> TokenStream {
    let (variant, ty) = (format_ident!("{variant}"), format_ident!("{ty}"));
    quote! {
        #[doc(hidden)]
        #[allow(non_upper_case_globals, clippy::all)]
        const _: () = {
            fn __ocean_register() -> #p::#ty {
                #body
            }
            #p::inventory::submit! {
                #p::Registered::#variant(__ocean_register)
            }
        };
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
    let p = private(a.krate.as_ref());
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
        fn retry_policy(&self) -> #p::RetryPolicy {
            let mut p = <#p::RetryPolicy as ::core::default::Default>::default();
            #(#fields)*
            p
        }
    })
}

fn kinds_method(p: &TokenStream, kinds: &[LitStr]) -> TokenStream {
    quote! {
        async fn get_matching_kinds(&self, _event: &#p::WebhookEvent) -> ::std::vec::Vec<::std::string::String> {
            ::std::vec![#(::std::string::String::from(#kinds)),*]
        }
    }
}

/// `.auth(...)`, `.no_auth()`, `.insecure()`, `.group_by(...)`, `.name(...)`, `.kinds(...)` on the
/// registration.
fn registration_calls(a: &ProcessorArgs, custom_auth: bool) -> TokenStream {
    let p = private(a.krate.as_ref());
    let mut calls = Vec::new();
    if let Some(n) = &a.name {
        calls.push(quote! { .name(#n) });
    }
    match &a.auth {
        Some(AuthArg::None(span)) => calls.push(quote_spanned! {*span=> .no_auth() }),
        Some(AuthArg::Verifier { scheme, options }) => {
            calls.push(auth_call(&p, scheme, options));
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
    if let Some(g) = &a.group {
        calls.push(quote! { .group(#g) });
    }
    if let Some(d) = &a.dedup {
        calls.push(quote! { .dedup(#p::delivery::#d()) });
    }
    if let Some((_, kinds)) = &a.kinds {
        calls.push(quote! { .kinds(&[#(#kinds),*]) });
    }
    quote! { #(#calls)* }
}

/// `.auth(ocean::auth::scheme().option(value)...)`.
fn auth_call(p: &TokenStream, scheme: &syn::Ident, options: &[(syn::Ident, Option<syn::Lit>)]) -> TokenStream {
    let opts = options.iter().map(|(k, v)| match v {
        Some(v) => quote! { .#k(#v) },
        None => quote! { .#k(true) },
    });
    quote! { .auth(#p::auth::#scheme() #(#opts)*) }
}

fn processor_impl(a: &ProcessorArgs, mut imp: ItemImpl) -> syn::Result<TokenStream> {
    let custom_auth = valid::impl_block(a, &imp)?;
    let p = private(a.krate.as_ref());
    if let Some((_, kinds)) = &a.kinds {
        imp.items.push(syn::parse2(kinds_method(&p, kinds))?);
    }
    if let Some(r) = retry_policy(a) {
        imp.items.push(syn::parse2(r)?);
    }
    let path = a.path.as_ref().map(|p| p.value()).unwrap_or_default();
    let self_ty = &imp.self_ty;
    let (impl_generics, _, where_clause) = imp.generics.split_for_impl();
    let items = &imp.items;
    let attrs = &imp.attrs;
    let constructor = match &a.init {
        Some(init) => quote_spanned! {init.span()=> #p::Processor::new::<#self_ty, _>(#path, #init) },
        None => quote_spanned! {self_ty.span()=> #p::Processor::of::<#self_ty>(#path) },
    };
    let calls = registration_calls(a, custom_auth);
    let name = quote!(#self_ty).to_string().replace(' ', "");
    let name = if a.name.is_some() {
        quote!()
    } else {
        quote! { .name(#name) }
    };
    let registration = register(&p, "Processor", "Processor", quote! { #constructor #name #calls });
    Ok(quote! {
        #(#attrs)*
        impl #impl_generics #p::WebhookProcessor for #self_ty #where_clause {
            #(#items)*
        }
        #registration
    })
}

fn processor_fn(a: &ProcessorArgs, f: ItemFn) -> syn::Result<TokenStream> {
    valid::function(a, &f)?;
    let p = private(a.krate.as_ref());
    let fn_name = &f.sig.ident;
    let ty = format_ident!("__OceanProcessor_{}", fn_name);
    let kinds = kinds_method(&p, &a.kinds.as_ref().map(|(_, k)| k.clone()).unwrap_or_default());
    let retry = retry_policy(a).unwrap_or_default();
    let filter = a.filter.as_ref().map(|f| {
        quote_spanned! {f.span()=>
            async fn should_process_event(&self, event: &#p::WebhookEvent) -> bool {
                #f(event)
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
    let registration = register(&p, "Processor", "Processor", quote! { #p::Processor::of::<#ty>(#path) #name #calls });
    Ok(quote! {
        #f
        #[doc(hidden)]
        #[allow(non_camel_case_types)]
        #[derive(Default)]
        struct #ty;
        #[doc(hidden)]
        #[allow(clippy::all)]
        impl #p::WebhookProcessor for #ty {
            #kinds
            #retry
            #filter
            async fn handle_event(
                &self,
                event: &#p::WebhookEvent,
                resource: &#p::ResourceConfig,
            ) -> ::core::result::Result<#p::WebhookEventRawResults, #p::ProcessorError> {
                #call
            }
        }
        #registration
    })
}

/// The annotated `async fn`; `not_fn` is the error when the item is not a function.
fn async_fn(item: &TokenStream, not_fn: &str) -> syn::Result<ItemFn> {
    let f: ItemFn = syn::parse2(item.clone()).map_err(|e| syn::Error::new(e.span(), not_fn))?;
    if f.sig.asyncness.is_none() {
        return Err(syn::Error::new(
            f.sig.fn_token.span,
            "the `async` keyword is missing from the function declaration",
        ));
    }
    Ok(f)
}

pub(crate) fn on_start(args: TokenStream, item: TokenStream) -> TokenStream {
    let p = private(None);
    let out = (|| -> syn::Result<TokenStream> {
        if !args.is_empty() {
            return Err(syn::Error::new_spanned(&args, "`#[ocean::on_start]` takes no arguments"));
        }
        let f = async_fn(&item, "`#[ocean::on_start]` goes on an `async fn`, optionally taking `ocean::Context`")?;
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
        let registration = register(
            &p,
            "OnStart",
            "OnStart",
            quote! {
                #p::OnStart::new(#name_str, |ctx: #p::Context| async move {
                    #ctx_use
                    #p::IntoStartResult::into_start_result(#call)
                })
            },
        );
        Ok(quote! {
            #f
            #registration
        })
    })()
    .unwrap_or_else(|e| with_errors(item, e));
    debug("on_start", &out);
    out
}

pub(crate) fn on_resync(args: TokenStream, item: TokenStream) -> TokenStream {
    let p = private(None);
    let out = (|| -> syn::Result<TokenStream> {
        let a: ResyncArgs = syn::parse2(args)?;
        let f = async_fn(
            &item,
            "`#[ocean::on_resync]` goes on an `async fn(ctx: ocean::Context, resource: &ocean::ResourceConfig, batches: ocean::Batches)`",
        )?;
        let name = &f.sig.ident;
        // Each argument is spanned on its parameter, so that a type mismatch points there.
        let spans: Vec<Span> = f.sig.inputs.iter().map(Spanned::span).collect();
        let arg = |i: usize, ident: &str| syn::Ident::new(ident, spans[i]);
        let call = match f.sig.inputs.len() {
            2 => {
                let (c, b) = (arg(0, "ctx"), arg(1, "batches"));
                quote_spanned! {f.sig.output.span()=> { let _ = resource; #name(#c, #b).await } }
            }
            3 => {
                let (c, r, b) = (arg(0, "ctx"), arg(1, "resource"), arg(2, "batches"));
                quote_spanned! {f.sig.output.span()=> #name(#c, #r, #b).await }
            }
            _ => {
                return Err(syn::Error::new(
                    f.sig.paren_token.span.join(),
                    "a resync function takes `(ctx: ocean::Context, resource: &ocean::ResourceConfig, batches: ocean::Batches)`, or `(ctx, batches)`",
                ));
            }
        };
        let kind = &a.kind;
        let label = a.name.as_ref().map_or_else(|| name.to_string(), LitStr::value);
        let registration = register(
            &p,
            "OnResync",
            "OnResync",
            quote! {
                fn __ocean_call<'a>(
                    ctx: #p::Context,
                    resource: &'a #p::ResourceConfig,
                    batches: #p::Batches,
                ) -> #p::BoxFuture<'a, #p::ResyncResult> {
                    ::std::boxed::Box::pin(async move { #p::IntoStartResult::into_start_result(#call) })
                }
                #p::OnResync::from_fn(#kind, #label, __ocean_call)
            },
        );
        Ok(quote! {
            #f
            #registration
        })
    })()
    .unwrap_or_else(|e| with_errors(item, e));
    debug("on_resync", &out);
    out
}

pub(crate) fn route(args: TokenStream, item: TokenStream) -> TokenStream {
    let p = private(None);
    let out = (|| -> syn::Result<TokenStream> {
        let a: RouteArgs = syn::parse2(args)?;
        valid::route(&a)?;
        let f = async_fn(&item, "`#[ocean::route]` goes on an `async fn` handler")?;
        let name = &f.sig.ident;
        let method = format_ident!("{}", a.method.to_string().to_uppercase(), span = a.method.span());
        let path = &a.path;
        let mut calls = Vec::new();
        if let Some(AuthArg::Verifier { scheme, options }) = &a.auth {
            calls.push(auth_call(&p, scheme, options));
        }
        if a.insecure.is_some() {
            calls.push(quote! { .insecure() });
        }
        let registration =
            register(&p, "Route", "Route", quote! { #p::Route::new(#p::Method::#method, #path, #name) #(#calls)* });
        Ok(quote! {
            #f
            #registration
        })
    })()
    .unwrap_or_else(|e| with_errors(item, e));
    debug("route", &out);
    out
}
