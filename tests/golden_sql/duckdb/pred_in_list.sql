SELECT
  "u"."user_id" AS "user_id"
FROM users AS "u"
WHERE
  (
    "u"."platform" IN ('ios', 'android')
  )
  AND (
    NOT "u"."sessions" IN (0, 1)
  )
  AND (
    NOT "u"."language" IN ('ja', 'ko')
  )
