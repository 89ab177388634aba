SELECT
  "u"."user_id" AS "user_id"
FROM users AS "u"
WHERE
  CAST('2026-11-09 00:00:00+00:00' AS TIMESTAMPTZ) < "u"."last_used"
  AND "u"."last_used" <= CAST('2026-11-16 00:00:00+00:00' AS TIMESTAMPTZ)
