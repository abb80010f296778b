#[ocean::route(post, "legacy")]
async fn legacy() -> ocean::actix_web::HttpResponse {
    ocean::actix_web::HttpResponse::Ok().finish()
}

fn main() {}
