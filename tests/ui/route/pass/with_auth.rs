use ocean::actix_web::{HttpResponse, web};

#[ocean::route(post, "/signed", auth = hmac(header = "x-signature", secret = "webhook_secret"))]
async fn signed(body: web::Bytes) -> HttpResponse {
    HttpResponse::Ok().body(body)
}

#[ocean::route(put, "/rotating", auth = standard_webhooks(secret = "signing_secret", tolerance_secs = 60), insecure)]
async fn rotating() -> HttpResponse {
    HttpResponse::Ok().finish()
}

#[ocean::route(get, "/plain")]
async fn plain() -> HttpResponse {
    HttpResponse::Ok().finish()
}

fn main() {
    let _ = ocean::Integration::new("routes").discovered();
}
