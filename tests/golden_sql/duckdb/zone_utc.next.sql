SELECT
  "u"."user_id" AS "user_id",
  CAST('2026-12-03 17:45:00+00:00' AS TIMESTAMPTZ) AS "send_at"
FROM users AS "u"
WHERE
  (
    CAST('2026-11-12 17:45:00+00:00' AS TIMESTAMPTZ) < CASE
      WHEN "u"."last_used" > CAST('2026-11-30 00:00:00+00:00' AS TIMESTAMPTZ)
      THEN CAST('2026-11-30 00:00:00+00:00' AS TIMESTAMPTZ)
      ELSE "u"."last_used"
    END
    AND CASE
      WHEN "u"."last_used" > CAST('2026-11-30 00:00:00+00:00' AS TIMESTAMPTZ)
      THEN CAST('2026-11-30 00:00:00+00:00' AS TIMESTAMPTZ)
      ELSE "u"."last_used"
    END <= CAST('2026-11-19 17:45:00+00:00' AS TIMESTAMPTZ)
  )
  AND (
    "u"."sessions" >= 3
  )
