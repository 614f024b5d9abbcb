# A throwaway PostgreSQL server for the tests: `source .ci/postgres.sh && start_test_postgres`.
#
# Uses Debian's postgresql package (preinstalled on the CI image; installed with apt if
# missing). initdb refuses to run as root, so the server runs as the `postgres` user, in
# a temporary directory, on 127.0.0.1 at a free port, with a random password and fsync off
# (about 4 s to start). It exports AUTOMETA_TEST_POSTGRES_URL (an admin URL; each test
# creates its own database) and is stopped and deleted by stop_test_postgres, which
# start_test_postgres registers on EXIT.

start_test_postgres() {
  local pgbin pgroot pw port try
  pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
  if [ -z "$pgbin" ] || [ ! -x "$pgbin/initdb" ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends postgresql >/dev/null   # policy-rc.d keeps its own cluster down
    pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
  fi
  id -u postgres >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin postgres
  pgroot=$(mktemp -d /tmp/autometa-pg.XXXXXX)
  chown postgres: "$pgroot"
  chmod 700 "$pgroot"
  pw=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
  ( umask 077; printf '%s\n' "$pw" > "$pgroot/pw" )
  chown postgres: "$pgroot/pw"
  runuser -u postgres -- "$pgbin/initdb" -D "$pgroot/data" -U autometa --pwfile="$pgroot/pw" \
      --auth-host=scram-sha-256 --auth-local=peer -E UTF8 --locale=C.UTF-8 --no-sync \
      >"$pgroot/initdb.log" 2>&1 || { cat "$pgroot/initdb.log" >&2; return 1; }
  rm -f "$pgroot/pw"
  for try in 1 2 3; do   # a port found free may be taken before the server binds it
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    if runuser -u postgres -- "$pgbin/pg_ctl" -D "$pgroot/data" -l "$pgroot/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $pgroot -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
        start >/dev/null; then
      TEST_PG_BIN=$pgbin
      TEST_PG_ROOT=$pgroot
      trap 'stop_test_postgres' EXIT
      export AUTOMETA_TEST_POSTGRES_URL="postgresql://autometa:$pw@127.0.0.1:$port/postgres"
      echo "CI: PostgreSQL $("$pgbin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port"
      return 0
    fi
  done
  cat "$pgroot/server.log" >&2
  return 1
}

stop_test_postgres() {
  [ -n "${TEST_PG_ROOT:-}" ] || return 0
  runuser -u postgres -- "$TEST_PG_BIN/pg_ctl" -D "$TEST_PG_ROOT/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$TEST_PG_ROOT"
  TEST_PG_ROOT=
}
