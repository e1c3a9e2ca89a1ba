#!/bin/sh
# A small web exchange: a server, two fetches, one refused connection.
/usr/bin/python3 -m http.server 8765 --bind 127.0.0.1 >/dev/null 2>&1 &
server=$!
sleep 3
curl -s -o /dev/null http://127.0.0.1:8765/
curl -s -o /dev/null http://127.0.0.1:8765/demo.sh
curl -s -o /dev/null http://127.0.0.1:1/ || true
kill $server
wait $server 2>/dev/null
