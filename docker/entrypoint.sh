#!/bin/sh
# Ingest the demo catalog once (unless DONA_DEMO=0), then serve the app.
set -e
if [ "${DONA_DEMO:-1}" = "1" ] && ! dona catalogs --json | grep -q '"name": "demo"'; then
  dona ingest catalog/chorus_icecat/products.jsonl.gz --catalog demo --prices-in-cents -q
fi
exec streamlit run ui/app.py --server.address 0.0.0.0 --server.port 8501 \
  --server.headless true --browser.gatherUsageStats false --client.toolbarMode viewer \
  --server.maxUploadSize "${DONA_MAX_UPLOAD_MB:-200}"
