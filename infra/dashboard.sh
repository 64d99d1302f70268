#!/usr/bin/env bash
# Runs the standalone Aspire dashboard (NuGet package Aspire.Dashboard.Sdk.linux-x64, no Docker) on loopback, as the
# local trace viewer for embedded runs and for services started by hand:
#
#   infra/dashboard.sh                  UI on http://127.0.0.1:18888, OTLP/gRPC on 18889, OTLP/HTTP on 18890
#   OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:18889 hournas run --preset smoke
#
# Local use only: the UI, the OTLP endpoints and the telemetry API run without authentication. Scripts can read what it
# holds as OTLP JSON: curl http://127.0.0.1:18888/api/telemetry/traces
set -euo pipefail
cd "$(dirname "$0")/.."
ui=${HOURNAS_DASHBOARD_URL:-http://127.0.0.1:18888}
otlp_grpc=${HOURNAS_DASHBOARD_OTLP_GRPC:-http://127.0.0.1:18889}
otlp_http=${HOURNAS_DASHBOARD_OTLP_HTTP:-http://127.0.0.1:18890}

dotnet restore infra/dashboard/Dashboard.csproj -v quiet >/dev/null
packages=${NUGET_PACKAGES:-$HOME/.nuget/packages}
dashboard="$packages/aspire.dashboard.sdk.linux-x64/13.6.5/tools/Aspire.Dashboard"
[ -x "$dashboard" ] || { echo "dashboard not found at $dashboard" >&2; exit 1; }

echo "dashboard: $ui  (export OTEL_EXPORTER_OTLP_ENDPOINT=$otlp_grpc)" >&2
exec env ASPNETCORE_URLS="$ui" \
  ASPIRE_DASHBOARD_OTLP_ENDPOINT_URL="$otlp_grpc" ASPIRE_DASHBOARD_OTLP_HTTP_ENDPOINT_URL="$otlp_http" \
  ASPIRE_ALLOW_UNSECURED_TRANSPORT=true \
  DASHBOARD__FRONTEND__AUTHMODE=Unsecured DASHBOARD__OTLP__AUTHMODE=Unsecured DASHBOARD__API__AUTHMODE=Unsecured \
  "$dashboard"
