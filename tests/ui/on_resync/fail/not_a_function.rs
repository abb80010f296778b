#[ocean::on_resync(kind = "repository")]
struct Repositories;

fn main() {}
