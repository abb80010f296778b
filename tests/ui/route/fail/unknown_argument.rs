#[ocean::route(post, "/legacy", auht = token(header = "x-token", secret = "token"))]
async fn legacy() -> ocean::actix_web::HttpResponse {
    ocean::actix_web::HttpResponse::Ok().finish()
}

fn main() {}
