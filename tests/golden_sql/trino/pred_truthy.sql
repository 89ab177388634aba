SELECT
  "u"."user_id" AS "user_id"
FROM users AS "u"
WHERE
  "u"."push_opted_in" = TRUE
