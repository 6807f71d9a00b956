"""Create or drop a database of a test run's own on the local PostgreSQL or MariaDB server.

    python server_db.py create|drop postgres|mysql NAME POSTGRES_URL MYSQL_URL
"""
import sys
import urllib.parse

action, backend, name, pg, my = sys.argv[1:]
u = urllib.parse.urlparse(pg if backend == "postgres" else my)
if backend == "postgres":
    import psycopg2
    c = psycopg2.connect(host=u.hostname, port=u.port or 5432, user=u.username, password=u.password or None,
                         dbname=u.path.lstrip("/"))
    c.autocommit = True
    c.cursor().execute(f"CREATE DATABASE {name}" if action == "create" else f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
else:
    import pymysql
    c = pymysql.connect(host=u.hostname, port=u.port or 3306, user=u.username, password=u.password or "")
    c.cursor().execute(f"CREATE DATABASE {name} CHARACTER SET utf8mb4" if action == "create" else f"DROP DATABASE IF EXISTS {name}")
