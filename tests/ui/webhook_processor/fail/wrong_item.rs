#[ocean::webhook_processor(path = "/webhook", kinds = ["issue"], auth = none)]
struct P;

fn main() {}
