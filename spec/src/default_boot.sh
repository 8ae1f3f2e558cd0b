#!/bin/bash
# modu's default boot script, used when the spec sets no compute.user_data.
#
# Until modu deploys an application itself, this gives every instance a tiny
# placeholder web service so the load balancer's health checks pass and the
# stack can be seen working end to end. modu fills in the two values below
# when it reads the spec.
set -euo pipefail

APP_PORT='__MODU_APP_PORT__'
HEALTH_PATH_FILE=/etc/modu/health-path

# Keep a copy of everything this script prints, besides cloud-init's own log.
exec > >(tee -a /var/log/modu-boot.log) 2>&1
echo "modu boot: starting at $(date -u +%Y-%m-%dT%H:%M:%SZ)"

# IMDSv2: ask for a session token first, then for the instance id.
imds_token=$(curl -sS --max-time 5 -X PUT http://169.254.169.254/latest/api/token \
    -H 'X-aws-ec2-metadata-token-ttl-seconds: 300' || true)
instance_id=$(curl -sS --max-time 5 -H "X-aws-ec2-metadata-token: ${imds_token}" \
    http://169.254.169.254/latest/meta-data/instance-id || echo unknown)
echo "modu boot: instance ${instance_id}"

mkdir -p /etc/modu /opt/modu
# The health-check path is written through a quoted here-document, so no
# character in it is ever interpreted by the shell.
cat > "${HEALTH_PATH_FILE}" <<'MODU_HEALTH_PATH'
__MODU_HEALTH_PATH__
MODU_HEALTH_PATH
printf '%s\n' "${APP_PORT}" > /etc/modu/app-port
printf '%s\n' "${instance_id}" > /etc/modu/instance-id
chmod 0644 /etc/modu/health-path /etc/modu/app-port /etc/modu/instance-id

cat > /opt/modu/placeholder.py <<'MODU_PLACEHOLDER'
"""Placeholder HTTP service: 200 on the health-check path and on /, 404 elsewhere."""
import http.server
import urllib.parse


def read(name):
    with open("/etc/modu/" + name, encoding="utf-8") as f:
        return f.read().strip()


PORT = int(read("app-port"))
HEALTH_PATH = urllib.parse.urlsplit(read("health-path")).path or "/"
INSTANCE_ID = read("instance-id")


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        path = urllib.parse.urlsplit(self.path).path
        if path == HEALTH_PATH:
            self.answer(200, "ok\n")
        elif path == "/":
            self.answer(200, "modu placeholder on %s: no app deployed yet\n" % INSTANCE_ID)
        else:
            self.answer(404, "not found\n")

    def answer(self, status, text):
        body = text.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        pass  # Health checks every few seconds would flood the journal.


http.server.ThreadingHTTPServer(("", PORT), Handler).serve_forever()
MODU_PLACEHOLDER
chmod 0644 /opt/modu/placeholder.py

cat > /etc/systemd/system/modu-placeholder.service <<'MODU_UNIT'
[Unit]
Description=modu placeholder web service
After=network-online.target
Wants=network-online.target

[Service]
ExecStart=/usr/bin/python3 /opt/modu/placeholder.py
Restart=always
RestartSec=2
DynamicUser=yes
AmbientCapabilities=CAP_NET_BIND_SERVICE

[Install]
WantedBy=multi-user.target
MODU_UNIT

systemctl daemon-reload
systemctl enable --now modu-placeholder.service
echo "modu boot: placeholder listening on port ${APP_PORT}, done"
