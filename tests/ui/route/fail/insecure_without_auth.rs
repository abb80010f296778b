#[ocean::route(post, "/legacy", insecure)]
async fn legacy() -> ocean::actix_web::HttpResponse {
    ocean::actix_web::HttpResponse::Ok().finish()
}

fn main() {}
