//! Logs and traces. Logs: human-readable text, or JSON lines for log shippers. Traces: the
//! spans of requests (with their correlation id), job runs and connector calls, exported over
//! OTLP/HTTP when an OpenTelemetry endpoint is configured (the standard
//! `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, docs/operations.md).

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

use crate::server::app::config::Settings;

/// Spans exported for as long as this lives; dropping it sends what is still buffered.
pub struct Traces(Option<SdkTracerProvider>);

impl Drop for Traces {
    fn drop(&mut self) {
        if let Some(provider) = self.0.take()
            && let Err(e) = provider.shutdown()
        {
            eprintln!("leasegate: the last traces could not be sent: {e}");
        }
    }
}

/// What the trace exporter leaves out: its own HTTP client's spans would be exported in turn.
const TRACE_FILTER: &str = "info,hyper=off,hyper_util=off,h2=off,reqwest=off,opentelemetry=off,\
                            opentelemetry_sdk=off,opentelemetry_otlp=off,opentelemetry_http=off";

/// Installs the global subscriber: logs as `settings` say, and traces to the configured
/// OpenTelemetry collector, if any. Keep the answer until the process ends.
pub fn init(settings: &Settings) -> Traces {
    let filter =
        EnvFilter::try_new(&settings.log_filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt::layer().with_target(true);
    let logs = if settings.log_json {
        logs.json().boxed()
    } else {
        logs.boxed()
    };
    let (provider, problem) = match &settings.trace_endpoint {
        Some(_) => match exporter() {
            Ok(provider) => (Some(provider), None),
            Err(e) => (None, Some(e)),
        },
        None => (None, None),
    };
    let traces = provider.as_ref().map(|provider| {
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("leasegate"))
            .with_filter(EnvFilter::new(TRACE_FILTER))
    });
    tracing_subscriber::registry()
        .with(logs.with_filter(filter))
        .with(traces)
        .init();
    match (&settings.trace_endpoint, problem) {
        (Some(endpoint), None) => tracing::info!(%endpoint, "traces go out over OTLP/HTTP"),
        (Some(endpoint), Some(problem)) => {
            tracing::error!(%endpoint, %problem, "traces cannot be exported; the portal runs without")
        }
        (None, _) => {}
    }
    Traces(provider)
}

/// OTLP/HTTP with protobuf, batched; endpoint, headers and timeouts from the standard
/// `OTEL_EXPORTER_OTLP_*` variables, the service named `leasegate` unless `OTEL_SERVICE_NAME`
/// says otherwise.
fn exporter() -> Result<SdkTracerProvider, opentelemetry_otlp::ExporterBuildError> {
    use opentelemetry_otlp::WithExportConfig as _;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .build()?;
    let mut resource = opentelemetry_sdk::Resource::builder();
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        resource = resource.with_service_name("leasegate");
    }
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource.build())
        .build())
}
