#!/bin/bash
# modu's boot script for stacks with an `app` section: installs release __MODU_RELEASE__
# of the resume service and starts it. modu fills in the values below; the instance role
# (through IMDS) is the only credential the instance has.
set -euo pipefail

RELEASE='__MODU_RELEASE__'
REGION='__MODU_REGION__'
BUCKET='__MODU_BUCKET__'
KEY='__MODU_KEY__'
SHA256='__MODU_SHA256__'
PARAMETERS='__MODU_PARAMETERS__'
PORT='__MODU_PORT__'
DRAIN_SECS='__MODU_DRAIN_SECS__'
STOP_TIMEOUT_SECS='__MODU_STOP_TIMEOUT_SECS__'

exec > >(tee -a /var/log/modu-boot.log) 2>&1
echo "modu boot: release ${RELEASE} at $(date -u +%Y-%m-%dT%H:%M:%SZ)"

home=/opt/modu/releases/${RELEASE}
install -d -m 0755 "${home}"
# The role's credentials may take a moment to appear in IMDS after boot: retry.
for attempt in 1 2 3 4 5 6 7 8 9 10; do
    if aws s3api get-object --region "${REGION}" --bucket "${BUCKET}" --key "${KEY}" \
        "${home}/modu-app.part" >/dev/null; then
        break
    fi
    [ "${attempt}" = 10 ] && { echo "modu boot: cannot fetch s3://${BUCKET}/${KEY}"; exit 1; }
    sleep $((attempt * 2))
done
echo "${SHA256}  ${home}/modu-app.part" | sha256sum --check --strict -
chmod 0755 "${home}/modu-app.part"
mv "${home}/modu-app.part" "${home}/modu-app"

# A system user of its own, without a shell or a home it could write.
if ! id -u modu-app >/dev/null 2>&1; then
    useradd --system --no-create-home --home-dir /var/lib/modu-app --shell /sbin/nologin modu-app
fi
install -d -m 0750 -o modu-app -g modu-app /var/lib/modu-app

install -d -m 0755 /etc/modu
# Written through a quoted here-document: no value is interpreted by the shell.
cat > /etc/modu/app.env <<'MODU_ENV'
__MODU_ENV__
MODU_ENV
chmod 0644 /etc/modu/app.env

cat > /etc/systemd/system/modu-app.service <<MODU_UNIT
[Unit]
Description=modu resume service, release ${RELEASE}
After=network-online.target
Wants=network-online.target

[Service]
User=modu-app
Group=modu-app
EnvironmentFile=/etc/modu/app.env
WorkingDirectory=/var/lib/modu-app
ExecStart=${home}/modu-app
Restart=on-failure
RestartSec=2
# SIGTERM starts the drain (readyz fails, requests still served for DRAIN_SECS);
# systemd waits longer than that before it kills.
KillSignal=SIGTERM
TimeoutStopSec=${STOP_TIMEOUT_SECS}
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectControlGroups=yes
RestrictSUIDSGID=yes
LockPersonality=yes
CapabilityBoundingSet=
ReadWritePaths=/var/lib/modu-app
LimitNOFILE=65536

[Install]
WantedBy=multi-user.target
MODU_UNIT

systemctl daemon-reload
systemctl enable --now modu-app.service
echo "modu boot: modu-app ${RELEASE} started on port ${PORT} (parameters ${PARAMETERS}, drain ${DRAIN_SECS}s)"
