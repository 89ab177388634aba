SELECT
  "u"."user_id" AS "user_id"
FROM users AS "u"
WHERE
  (
    NOT "u"."app_version" IS NULL
  )
  AND (
    "u"."language" IS NULL
  )
  AND (
    NOT "u"."last_used" IS NULL
  )
