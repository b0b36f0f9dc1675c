// What a JDBC BI tool (Tableau's PostgreSQL connector, DBeaver) asks of a server
// through the PostgreSQL JDBC driver (pgjdbc, Debian's libpostgresql-jdbc-java):
// the driver's own DatabaseMetaData calls, which send its catalog queries, then a
// prepared aggregate as Tableau writes one. Run with the driver on the class path:
//
//   java -cp /usr/share/java/postgresql.jar BiTools.java jdbc:postgresql://HOST:PORT/lgs?user=lgs
//
// Prints one tab-separated line per answer ("table\tpublic\tretail\tTABLE"), and
// "error\t<call>\t<message>" for a call that failed, going on with the next call;
// test_bi_tools.py reads the lines.
import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;

public class BiTools {
  interface Call {
    void run() throws SQLException;
  }

  static void print(Object... fields) {
    List<String> text = new ArrayList<>();
    for (Object field : fields) {
      text.add(String.valueOf(field));
    }
    System.out.println(String.join("\t", text));
  }

  static void attempt(String name, Call call) {
    try {
      call.run();
    } catch (SQLException e) {
      print("error", name, e.getMessage().replace('\n', ' '));
    }
  }

  static int count(ResultSet r) throws SQLException {
    int n = 0;
    while (r.next()) {
      n++;
    }
    r.close();
    return n;
  }

  public static void main(String[] args) throws Exception {
    try (Connection c = DriverManager.getConnection(args[0])) {
      DatabaseMetaData m = c.getMetaData();
      attempt("product", () -> print("product", m.getDatabaseProductName(),
          m.getDatabaseMajorVersion()));
      attempt("getSchemas", () -> {
        try (ResultSet r = m.getSchemas()) {
          while (r.next()) {
            print("schema", r.getString("TABLE_SCHEM"));
          }
        }
      });
      attempt("getTables", () -> {
        try (ResultSet r = m.getTables(null, "public", "%", new String[] {"TABLE", "VIEW"})) {
          while (r.next()) {
            print("table", r.getString("TABLE_SCHEM"), r.getString("TABLE_NAME"),
                r.getString("TABLE_TYPE"));
          }
        }
      });
      attempt("getColumns", () -> {
        try (ResultSet r = m.getColumns(null, "public", "retail", "%")) {
          while (r.next()) {
            print("column", r.getString("COLUMN_NAME"), r.getString("TYPE_NAME"),
                r.getInt("DATA_TYPE"), r.getInt("ORDINAL_POSITION"), r.getString("IS_NULLABLE"));
          }
        }
      });
      attempt("getPrimaryKeys",
          () -> print("primary_keys", count(m.getPrimaryKeys(null, "public", "retail"))));
      attempt("getImportedKeys",
          () -> print("imported_keys", count(m.getImportedKeys(null, "public", "retail"))));
      attempt("getIndexInfo", () -> print("indexes",
          count(m.getIndexInfo(null, "public", "retail", false, true))));
      attempt("query", () -> {
        String sql = "SELECT \"retail\".\"country\" AS \"country\","
            + " SUM(\"retail\".\"amount\") AS \"sum:amount:ok\""
            + " FROM \"public\".\"retail\" \"retail\""
            + " WHERE (\"retail\".\"quantity\" > ?)"
            + " GROUP BY 1 ORDER BY 1";
        try (PreparedStatement p = c.prepareStatement(sql)) {
          p.setInt(1, 0);
          try (ResultSet r = p.executeQuery()) {
            ResultSetMetaData meta = r.getMetaData();
            print("result", meta.getColumnTypeName(1), meta.getColumnTypeName(2));
            while (r.next()) {
              print("row", r.getString(1), r.getBigDecimal(2).toPlainString());
            }
          }
        }
      });
    }
  }
}
