//! `graph-sim`: the Microsoft Graph simulator (written from Microsoft's documentation; not
//! Microsoft's service) as its own process, for the demo and for trying a Graph connector
//! without a tenant. Settings from the environment: `LEASEGATE_SIM_LISTEN` (default
//! 127.0.0.1:8950), `LEASEGATE_SIM_TENANT_ID`, `LEASEGATE_SIM_CLIENT_ID` and
//! `LEASEGATE_SIM_CLIENT_SECRET` (the one application it knows, with the permissions the Graph
//! connector needs), `LEASEGATE_SIM_CONTROL_TOKEN` (what its control plane takes; made at
//! random and printed when unset). Seed it through `POST /__sim__/seed` with the header
//! `x-sim-control-token`.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("graph-sim: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), String> {
    let var = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.into());
    let listen = var("LEASEGATE_SIM_LISTEN", "127.0.0.1:8950");
    let tenant = var(
        "LEASEGATE_SIM_TENANT_ID",
        "5f0c7a2e-1d3b-4c8e-9a61-2b7d4e8f0c11",
    );
    let client = var(
        "LEASEGATE_SIM_CLIENT_ID",
        "0c7f3e2d-5a4b-4e3f-8a1b-9c8d7e6f5a4b",
    );
    let secret = std::env::var("LEASEGATE_SIM_CLIENT_SECRET").map_err(|_| {
        "LEASEGATE_SIM_CLIENT_SECRET: the simulated application's client secret is not set"
            .to_string()
    })?;
    let sim = graph_sim::Simulator::new(&tenant);
    if let Ok(token) = std::env::var("LEASEGATE_SIM_CONTROL_TOKEN") {
        sim.set_control_token(&token)
            .map_err(|e| format!("LEASEGATE_SIM_CONTROL_TOKEN: {e}"))?;
    }
    sim.register_app(
        &client,
        &secret,
        &[
            "GroupMember.ReadWrite.All",
            "Group.Read.All",
            "User.Read.All",
            "Directory.Read.All",
            "TeamMember.ReadWrite.All",
            "PrivilegedAssignmentSchedule.ReadWrite.AzureADGroup",
            "RoleAssignmentSchedule.ReadWrite.Directory",
            "Sites.ReadWrite.All",
            // Guests for contractors: invited, disabled and deleted.
            "User.Invite.All",
            "User.ReadWrite.All",
            // Azure RBAC for Defender for Cloud's JIT VM access (ARM).
            "Microsoft.Security/locations/jitNetworkAccessPolicies/read",
            "Microsoft.Security/locations/jitNetworkAccessPolicies/initiate/action",
        ],
    );
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    eprintln!(
        "graph-sim: Microsoft Graph simulator (not Microsoft's service) for tenant {tenant} on \
         http://{listen}; its page: http://{listen}/__sim__/?token={}",
        sim.control_token()
    );
    graph_sim::serve(listener, sim)
        .await
        .map_err(|e| format!("serving: {e}"))
}
