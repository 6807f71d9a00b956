#!/bin/bash
#
# devstack/plugin.sh: run Lintel in devstack. Enable it in local.conf with
#
#     enable_plugin lintel <url of this repository> [branch]
#     LINTEL_MODE=alongside        # or replace
#
# See devstack/README.md. Devstack sources this file (it is not executed) with the phase as arguments:
# "stack pre-install", "stack install", "stack post-config", "stack extra", "unstack", "clean". So,
# beyond the usual xtrace save and restore, it sets no shell options: it runs with stack.sh's (errexit).
#
# When each step runs:
#   alongside  pre-install: Rust toolchain   install: build   post-config: configure, init
#              extra: start (Keystone is up by then, for the optional catalog entry)
#   replace    pre-install: Rust toolchain   install: build, configure, init, start, devstack's accounts
#              Devstack only creates its accounts (service project, demo users, nova/glance/... service
#              users) when Keystone is enabled, and stack.sh needs an identity service between "install"
#              and "post-config" (init_placement creates placement's service user there). So in replace
#              mode Lintel must answer by the end of "install", and the plugin creates devstack's accounts
#              (starting devstack's TLS proxy first, which stack.sh itself starts only after "install").
# Every "stack" phase first checks that clients will reach Lintel over HTTPS (check_lintel_https), so a
# local.conf without tls-proxy fails in "pre-install", before the build. See "HTTPS" in README.md.

# Save trace setting
_XTRACE_LINTEL=$(set +o | grep xtrace)
set -o xtrace


# Functions
# ---------

# check_lintel_https - stop stack.sh, before anything is built, when clients would reach Lintel over plain
# HTTP, where its OAuth 2.0 token endpoint refuses every request (settings: LINTEL_SCHEME); only warn with
# LINTEL_ALLOW_PLAIN_HTTP=True
function check_lintel_https {
    if [[ "$LINTEL_SCHEME" == "https" ]]; then
        return 0
    fi
    if [[ "$LINTEL_ALLOW_PLAIN_HTTP" == "True" ]]; then
        warn $LINENO "Lintel is served over plain HTTP at $LINTEL_PUBLIC_URL (LINTEL_ALLOW_PLAIN_HTTP=True): its OAuth 2.0 token endpoint (/v3/OS-OAUTH2/token) will refuse every request; the rest of the /v3 API works, unencrypted"
        return 0
    fi
    local fix="add 'enable_service tls-proxy' to local.conf (devstack's TLS proxy then serves https://$SERVICE_HOST$LINTEL_URL_PATH)"
    if [[ "$LINTEL_MODE" == "alongside" ]]; then
        fix+=", or set LINTEL_USE_APACHE=False (Lintel then serves HTTPS itself at https://$SERVICE_HOST:$LINTEL_PORT)"
    fi
    die $LINENO "Lintel's OAuth 2.0 token endpoint requires HTTPS, but devstack's tls-proxy service is not enabled, so Lintel would be served over plain HTTP at $LINTEL_PUBLIC_URL. To fix it, $fix. To go on without OAuth 2.0, set LINTEL_ALLOW_PLAIN_HTTP=True."
}

# install_lintel_toolchain - rustup and the toolchain that builds Lintel (skipped with a prebuilt LINTEL_BIN)
function install_lintel_toolchain {
    if [[ "$LINTEL_BUILD" != "True" ]]; then
        return 0
    fi
    if ! _lintel_rustup >/dev/null; then
        # rustup's documented installer; installs into ~/.cargo and ~/.rustup of $STACK_USER, no sudo.
        # --no-modify-path: nothing of ours in the stack user's shell profile.
        curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs \
            | sh -s -- -y --no-modify-path --profile minimal --default-toolchain none
    fi
    # Idempotent; updates the toolchain if a newer one of that channel exists.
    "$(_lintel_rustup)" toolchain install "$LINTEL_RUST_TOOLCHAIN" --profile minimal
}

# _lintel_rustup - print rustup's path (on PATH, else where its installer puts it); fail if there is none
function _lintel_rustup {
    local rustup
    rustup=$(command -v rustup || true)
    rustup=${rustup:-$HOME/.cargo/bin/rustup}
    [[ -x "$rustup" ]] && echo "$rustup"
}

# install_lintel - build the release binary (unless prebuilt) and check it runs
function install_lintel {
    if [[ "$LINTEL_BUILD" == "True" ]]; then
        # "rustup run": the toolchain we installed, whatever the stack user's default is.
        # --locked: exactly the dependency versions in Cargo.lock, the ones Lintel's CI tested.
        (cd "$LINTEL_DIR" && "$(_lintel_rustup)" run "$LINTEL_RUST_TOOLCHAIN" cargo build --release --locked)
    fi
    if [[ ! -x "$LINTEL_BIN" ]]; then
        die $LINENO "Lintel binary $LINTEL_BIN is missing or not executable"
    fi
    "$LINTEL_BIN" --version
}

# configure_lintel - write $LINTEL_CONF and, with Apache in front, the Apache site
function configure_lintel {
    sudo install -d -o "$STACK_USER" -m 0755 "$LINTEL_CONF_DIR"
    # Every stack.sh starts from an empty identity store, as devstack recreates Keystone's database.
    rm -rf "$LINTEL_DATA_DIR"
    install -d -m 0700 "$LINTEL_DATA_DIR"

    # Start from the sample, which documents every option (commented out), then set ours, the way
    # devstack configures Keystone from keystone.conf.sample.
    "$LINTEL_BIN" sample-config >"$LINTEL_CONF"
    # It may hold a database password ($LINTEL_DATABASE_CONNECTION).
    chmod 0600 "$LINTEL_CONF"
    iniset "$LINTEL_CONF" DEFAULT public_endpoint "$LINTEL_PUBLIC_URL"
    iniset "$LINTEL_CONF" DEFAULT data_dir "$LINTEL_DATA_DIR"
    iniset "$LINTEL_CONF" DEFAULT debug "${LINTEL_DEBUG,,}"
    if [[ -n "$LINTEL_DATABASE_CONNECTION" ]]; then
        iniset "$LINTEL_CONF" database connection "$LINTEL_DATABASE_CONNECTION"
    fi
    iniset "$LINTEL_CONF" server bind "$LINTEL_BIND"
    if [[ "$LINTEL_USE_APACHE" == "True" ]]; then
        # Apache speaks plain HTTP to Lintel on the loopback (tls-proxy, when enabled, terminates TLS in
        # front of Apache) and tells it which scheme the client used; Lintel trusts that only when told to.
        iniset "$LINTEL_CONF" server insecure_http true
        iniset "$LINTEL_CONF" oslo_middleware enable_proxy_headers_parsing true
        _configure_lintel_apache
    else
        # Clients reach Lintel directly: it serves HTTPS itself.
        iniset "$LINTEL_CONF" server insecure_http false
        if is_service_enabled tls-proxy; then
            # Devstack's certificate (key, certificate and CA in one file, as tls-proxy's Apache reads it),
            # signed by the CA that devstack adds to the host's trust store.
            if [[ ! -r "$DEVSTACK_CERT" ]]; then
                die $LINENO "tls-proxy is enabled but devstack's certificate $DEVSTACK_CERT is missing"
            fi
            iniset "$LINTEL_CONF" tls cert_file "$DEVSTACK_CERT"
            iniset "$LINTEL_CONF" tls key_file "$DEVSTACK_CERT"
        fi
        # Otherwise no [tls] files: Lintel generates a self-signed certificate in $LINTEL_DATA_DIR/tls.
    fi

    # Fail here, naming file, section and option, rather than in the unit's log.
    "$LINTEL_BIN" --config "$LINTEL_CONF" check-config
}

# _configure_lintel_apache - forward $LINTEL_URL_PATH to Lintel, as devstack's uwsgi services are forwarded
function _configure_lintel_apache {
    local site proto_header
    site=$(apache_site_config_for lintel)
    # X-Forwarded-Proto is never set to https here: only tls-proxy, which did the TLS, says https.
    if is_service_enabled tls-proxy; then
        # tls-proxy (port 443) sets X-Forwarded-Proto: https and forwards to Apache on port 80; a request
        # made to port 80 directly has no such header and gets http. (setifempty: Apache 2.4.7 or later.)
        proto_header='RequestHeader setifempty X-Forwarded-Proto "http"'
    else
        # Without tls-proxy every request is plain HTTP, whatever the client claims.
        proto_header='RequestHeader set X-Forwarded-Proto "http"'
    fi
    # Lintel serves its API under the path of public_endpoint, so the path is forwarded unchanged.
    sudo tee "$site" >/dev/null <<EOF
# Written by the lintel devstack plugin (LINTEL_MODE=$LINTEL_MODE).
<Location "$LINTEL_URL_PATH">
    ProxyPass "http://$LINTEL_BIND$LINTEL_URL_PATH" retry=0
    ProxyPassReverse "http://$LINTEL_BIND$LINTEL_URL_PATH"
    $proto_header
</Location>
EOF
    enable_apache_mod proxy
    enable_apache_mod proxy_http
    enable_apache_mod headers
    enable_apache_site lintel
    restart_apache_server
}

# init_lintel - schema, Fernet keys, and the admin user, project, roles, region and identity endpoint
function init_lintel {
    "$LINTEL_BIN" --config "$LINTEL_CONF" db-sync
    "$LINTEL_BIN" --config "$LINTEL_CONF" keys setup
    # Devstack's own bootstrap_keystone arguments. The password goes through the environment, which
    # keeps it off the process list.
    OS_BOOTSTRAP_PASSWORD="$ADMIN_PASSWORD" "$LINTEL_BIN" --config "$LINTEL_CONF" bootstrap \
        --bootstrap-username admin \
        --bootstrap-project-name admin \
        --bootstrap-role-name admin \
        --bootstrap-service-name keystone \
        --bootstrap-region-id "$REGION_NAME" \
        --bootstrap-public-url "$LINTEL_BOOTSTRAP_PUBLIC_URL"
}

# start_lintel - run Lintel as devstack@lintel.service and wait until it answers
function start_lintel {
    run_process lintel "$LINTEL_BIN --config $LINTEL_CONF serve"
    echo "Waiting for Lintel to start..."
    # Straight to Lintel, not through Apache, which would answer 503 for it meanwhile.
    if ! wait_for_service "$SERVICE_TIMEOUT" "$LINTEL_BACKEND_URL/healthz"; then
        die $LINENO "Lintel did not start; see: journalctl -u devstack@lintel"
    fi
    if [[ "$LINTEL_USE_APACHE" != "True" ]] && ! is_service_enabled tls-proxy; then
        echo "Lintel serves HTTPS at $LINTEL_PUBLIC_URL with a self-signed certificate;" \
            "clients need: export OS_CACERT=$LINTEL_DATA_DIR/tls/cert.pem"
    fi
}

# create_lintel_devstack_accounts - in replace mode, what stack.sh does once Keystone is up
function create_lintel_devstack_accounts {
    # $KEYSTONE_SERVICE_URI is https with tls-proxy, but stack.sh starts the TLS proxy only after this phase,
    # just before it would start Keystone. So start it now, with stack.sh's own arguments (its later call
    # writes the same site again).
    if is_service_enabled tls-proxy; then
        start_tls_proxy http-services '*' 443 "$SERVICE_HOST" 80
    fi
    # stack.sh installs the client right after this phase; the account functions need it now.
    pip_install_gr python-openstackclient
    # As admin, the way stack.sh's clouds.yaml will (not written yet at this point). A subshell, so the
    # credentials do not leak into the rest of stack.sh.
    (
        unset OS_CLOUD
        export OS_AUTH_URL=$KEYSTONE_SERVICE_URI OS_IDENTITY_API_VERSION=3 OS_REGION_NAME=$REGION_NAME
        export OS_USERNAME=admin OS_PASSWORD=$ADMIN_PASSWORD OS_PROJECT_NAME=admin
        export OS_USER_DOMAIN_ID=default OS_PROJECT_DOMAIN_ID=default
        create_keystone_accounts
        local svc
        for svc in nova glance cinder neutron swift; do
            if is_service_enabled $svc; then
                create_${svc}_accounts
            fi
        done
    )
}

# register_lintel_in_keystone - alongside mode, optional: list Lintel in Keystone's catalog
function register_lintel_in_keystone {
    get_or_create_service "lintel" "identity-lintel" "Lintel identity service (alongside Keystone)"
    get_or_create_endpoint "identity-lintel" "$REGION_NAME" "$LINTEL_BOOTSTRAP_PUBLIC_URL"
}

# stop_lintel - stop devstack@lintel.service (Lintel drains its requests on SIGTERM)
function stop_lintel {
    stop_process lintel
}

# cleanup_lintel - remove what the plugin created, except the build (rebuilding is slow)
function cleanup_lintel {
    rm -rf "$LINTEL_DATA_DIR"
    sudo rm -rf "$LINTEL_CONF_DIR"
    if [[ "$LINTEL_USE_APACHE" == "True" ]]; then
        disable_apache_site lintel
        sudo rm -f "$(apache_site_config_for lintel)"
        restart_apache_server
    fi
    sudo rm -f "$SYSTEMD_DIR/devstack@lintel.service"
    $SYSTEMCTL daemon-reload
}


# Dispatcher
# ----------

if is_service_enabled lintel; then
    case "$LINTEL_MODE" in
        alongside|replace) ;;
        *) die $LINENO "LINTEL_MODE must be 'alongside' or 'replace', not '$LINTEL_MODE'" ;;
    esac
    if [[ "$LINTEL_MODE" == "replace" && "$LINTEL_USE_APACHE" != "True" ]]; then
        die $LINENO "LINTEL_MODE=replace serves identity at $KEYSTONE_SERVICE_URI through Apache"
    fi
    if [[ "$1" == "stack" ]]; then
        check_lintel_https
    fi

    if [[ "$1" == "stack" && "${2:-}" == "pre-install" ]]; then
        echo_summary "Installing Lintel's build toolchain"
        install_lintel_toolchain

    elif [[ "$1" == "stack" && "${2:-}" == "install" ]]; then
        echo_summary "Installing Lintel"
        install_lintel
        if [[ "$LINTEL_MODE" == "replace" ]]; then
            echo_summary "Starting Lintel as the identity service"
            configure_lintel
            init_lintel
            start_lintel
            create_lintel_devstack_accounts
        fi

    elif [[ "$1" == "stack" && "${2:-}" == "post-config" ]]; then
        if [[ "$LINTEL_MODE" == "alongside" ]]; then
            echo_summary "Configuring Lintel"
            configure_lintel
            init_lintel
        fi

    elif [[ "$1" == "stack" && "${2:-}" == "extra" ]]; then
        if [[ "$LINTEL_MODE" == "alongside" ]]; then
            echo_summary "Starting Lintel"
            start_lintel
            if [[ "$LINTEL_REGISTER_IN_KEYSTONE" == "True" ]] && is_service_enabled keystone; then
                register_lintel_in_keystone
            fi
        fi
    fi

    if [[ "$1" == "unstack" ]]; then
        stop_lintel
    fi

    if [[ "$1" == "clean" ]]; then
        cleanup_lintel
    fi
fi

# Restore xtrace
$_XTRACE_LINTEL
