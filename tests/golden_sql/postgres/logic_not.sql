SELECT
  "u"."user_id" AS "user_id"
FROM users AS "u"
WHERE
  (
    NOT (
      "u"."platform" = 'web'
    )
  )
  AND (
    NOT (
      (
        "u"."sessions" < 3
      )
      OR (
        "u"."last_used" < CAST('2026-10-31 00:00:00+00:00' AS TIMESTAMPTZ)
      )
    )
  )
