#[ocean::route(post, "/legacy", auth = hmca(header = "x-signature", secret = "webhook_secret"))]
async fn legacy() -> ocean::actix_web::HttpResponse {
    ocean::actix_web::HttpResponse::Ok().finish()
}

fn main() {}
