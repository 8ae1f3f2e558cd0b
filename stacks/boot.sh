#!/bin/bash
# Boot script for the reference stack (stacks/modu.yaml): a demo app that
# answers on port 8000 with the id of the instance that served the request,
# so reloading the load balancer's URL shows requests spreading across the
# group. /healthz answers 200 for the target group's health check.
set -euo pipefail

exec > >(tee -a /var/log/modu-boot.log) 2>&1
echo "boot: starting at $(date -u +%Y-%m-%dT%H:%M:%SZ)"

# IMDSv2: a session token first, then the instance's identity.
token=$(curl -sS --max-time 5 -X PUT http://169.254.169.254/latest/api/token \
    -H 'X-aws-ec2-metadata-token-ttl-seconds: 300' || true)
metadata() {
    curl -sS --max-time 5 -H "X-aws-ec2-metadata-token: ${token}" \
        "http://169.254.169.254/latest/meta-data/$1" || echo unknown
}
mkdir -p /opt/demo
metadata instance-id > /opt/demo/instance-id
metadata placement/availability-zone > /opt/demo/zone
echo "boot: instance $(cat /opt/demo/instance-id) in $(cat /opt/demo/zone)"

cat > /opt/demo/app.py <<'APP'
"""Demo app: says which instance answered; /healthz is the health check."""
import http.server
import json


def read(name):
    with open("/opt/demo/" + name, encoding="utf-8") as f:
        return f.read().strip()


IDENTITY = {"instance": read("instance-id"), "zone": read("zone")}


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.split("?")[0] == "/healthz":
            body, kind = b"ok\n", "text/plain"
        else:
            body, kind = (json.dumps(IDENTITY) + "\n").encode(), "application/json"
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        pass


http.server.ThreadingHTTPServer(("", 8000), Handler).serve_forever()
APP
chmod 0644 /opt/demo/app.py /opt/demo/instance-id /opt/demo/zone

cat > /etc/systemd/system/demo-app.service <<'UNIT'
[Unit]
Description=modu demo app
After=network-online.target
Wants=network-online.target

[Service]
ExecStart=/usr/bin/python3 /opt/demo/app.py
Restart=always
RestartSec=2
DynamicUser=yes

[Install]
WantedBy=multi-user.target
UNIT

systemctl daemon-reload
systemctl enable --now demo-app.service
echo "boot: demo app listening on port 8000"
