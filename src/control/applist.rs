//! WHM's `applist`: the functions of the function table that the caller's
//! privileges allow (for a token, its effective privileges), sorted, as
//! `{"app": [...]}`.

use serde_json::json;

use super::Ctx;
use super::reply::{Done, Outcome};

pub(super) fn run(ctx: &Ctx<'_>) -> Outcome {
    let functions = ctx.state.functions();
    let mut app = functions.permitted(ctx.holdings);
    app.sort_unstable();
    Ok(Done::data(json!({ "app": app })))
}
