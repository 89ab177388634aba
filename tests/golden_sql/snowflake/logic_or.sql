SELECT
  "u"."user_id" AS "user_id"
FROM users AS "u"
WHERE
  (
    "u"."country" = 'US'
  )
  OR (
    (
      "u"."country" = 'CA'
    ) AND (
      "u"."sessions" >= 3
    )
  )
  OR (
    "u"."first_used" > CAST('2026-11-23 00:00:00+00:00' AS TIMESTAMPTZ)
  )
