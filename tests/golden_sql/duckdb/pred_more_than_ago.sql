SELECT
  "u"."user_id" AS "user_id"
FROM users AS "u"
WHERE
  "u"."last_used" < CAST('2026-09-01 00:00:00+00:00' AS TIMESTAMPTZ)
