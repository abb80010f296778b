use ocean::{Batches, Context, ProcessorError, ResourceConfig};

#[ocean::on_resync(kind = "repository")]
async fn repositories(_ctx: Context, batches: Batches) -> Result<(), ProcessorError> {
    batches.send(vec![serde_json::json!({"name": "one"})]).await?;
    Ok(())
}

#[ocean::on_resync(kind = "issue", name = "issues of every repository")]
async fn issues(_ctx: Context, resource: &ResourceConfig, batches: Batches) -> Result<(), String> {
    if resource.selector.get("states").is_none() {
        batches.skip("no states in the selector");
    }
    Ok(())
}

#[ocean::on_resync(kind = "team")]
async fn teams(_ctx: Context, _batches: Batches) {}

fn main() {
    let _ = ocean::Integration::new("forms").discovered();
}
